//! `healthprobe --install DIR`: copies this very executable to DIR/healthprobe, for images
//! that have no `cp` (a scratch init container filling a Kubernetes emptyDir or a Docker
//! volume that the service's own container then runs the probe from).

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The name the copy gets inside DIR.
const INSTALLED_NAME: &str = "healthprobe";
/// rwxr-xr-x: any uid the service runs as can execute it.
const MODE: u32 = 0o755;
/// The running executable, even if its file was renamed or replaced since we started.
const SELF_EXE: &str = "/proc/self/exe";

/// Copies the running executable into `dir` and returns the installed path and its size.
/// `program` is how we were started (argv[0]): the fallback where /proc is not mounted,
/// as in a bare chroot.
///
/// Atomic: the bytes go to a temporary file in DIR, are flushed to disk, get mode 0755 and
/// only then are renamed to DIR/healthprobe, so no reader ever sees half a binary, and an
/// interrupted install leaves any earlier copy intact.
pub fn install(dir: &Path, program: Option<&Path>) -> Result<(PathBuf, u64), Error> {
    match fs::metadata(dir) {
        Ok(metadata) if metadata.is_dir() => {}
        Ok(_) => return Err(dir_error(dir, &io::Error::from(ErrorKind::NotADirectory))),
        Err(e) => return Err(dir_error(dir, &e)),
    }
    let mut source = open_self(program).map_err(|reason| Error::Install {
        dir: dir.display().to_string(),
        reason,
    })?;
    let temporary = dir.join(format!(".{INSTALLED_NAME}.{}.tmp", std::process::id()));
    let installed = dir.join(INSTALLED_NAME);
    let copied = create_new(&temporary).and_then(|mut copy| {
        let size = io::copy(&mut source, &mut copy)?;
        // The umask may have trimmed the mode given at creation.
        copy.set_permissions(fs::Permissions::from_mode(MODE))?;
        copy.sync_all()?;
        fs::rename(&temporary, &installed)?;
        Ok(size)
    });
    let size = copied.map_err(|e| {
        fs::remove_file(&temporary).ok();
        dir_error(dir, &e)
    })?;
    // Makes the rename itself durable. Best effort: some filesystems refuse to sync a
    // directory, and the copy is complete and in place either way.
    if let Ok(directory) = File::open(dir) {
        directory.sync_all().ok();
    }
    Ok((installed, size))
}

/// Creates the temporary copy; a stale one from an earlier run that died (an init
/// container is often pid 1 every time) is removed first, never followed as a symlink.
fn create_new(path: &Path) -> io::Result<File> {
    let open = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(MODE)
            .open(path)
    };
    match open() {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            fs::remove_file(path)?;
            open()
        }
        result => result,
    }
}

fn open_self(program: Option<&Path>) -> Result<File, String> {
    match File::open(SELF_EXE) {
        Ok(file) => Ok(file),
        // A bare name was found through PATH, which we cannot repeat: only a path will do.
        Err(e) if e.kind() == ErrorKind::NotFound => match program {
            Some(path) if path.as_os_str().as_encoded_bytes().contains(&b'/') => File::open(path)
                .map_err(|e| {
                    format!(
                        "cannot read {} (argv[0]): {}",
                        path.display(),
                        io_reason(&e)
                    )
                }),
            _ => Err(format!(
                "cannot find my own executable: {SELF_EXE} is missing (no /proc), so start me by its path"
            )),
        },
        Err(e) => Err(format!("cannot read {SELF_EXE}: {}", io_reason(&e))),
    }
}

/// Errors that mean DIR is wrong for the job (missing, read-only, not ours) are
/// configuration errors; anything else (a full disk) is a failure to install.
fn dir_error(dir: &Path, e: &io::Error) -> Error {
    let dir = dir.display().to_string();
    // ENAMETOOLONG (36 on every Linux architecture): no such directory can exist.
    // By number: its ErrorKind (InvalidFilename) is newer than our rust-version.
    if e.raw_os_error() == Some(36) {
        return Error::InstallDir {
            dir,
            reason: "file name too long",
        };
    }
    let reason = match e.kind() {
        ErrorKind::NotFound => "no such directory",
        ErrorKind::NotADirectory => "not a directory",
        ErrorKind::ReadOnlyFilesystem => "read-only file system",
        ErrorKind::PermissionDenied => "permission denied",
        _ => {
            return Error::Install {
                dir,
                reason: io_reason(e),
            };
        }
    };
    Error::InstallDir { dir, reason }
}

/// The OS's words without std's "(os error N)" suffix.
fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(end) => text[..end].to_string(),
        None => text,
    }
}
