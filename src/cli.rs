//! The command line and its environment fallbacks: arguments + environment -> Config.
//! This is the only module that sees argv or the environment.

use std::convert::Infallible;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::time::Duration;

use pico_args::Arguments;

use crate::config::{Config, Exec, HttpOptions, JsonCheck, MAX_TARGETS, StatusSet, UnixSocket};
use crate::error::Error;
use crate::sys;
use crate::target::Syntax;

mod help;
mod options;
pub(crate) mod values;

pub use help::HELP;
use options::{
    BODY_CONTAINS, CACERT, CERT, CONNECT_TIMEOUT, HEADER, HELP as HELP_OPTION, INSECURE, INSTALL,
    INTERVAL, JSON, KEY, METHOD, Options, PROXY, QUIET, STATUS, TIMEOUT, UNIX_SOCKET, USER_AGENT,
    VERBOSE, VERSION, WAIT, argument_error, check_variables,
};
use values::{Bare, header_value, non_empty_line, parse_header, parse_method, parse_proxy};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Help,
    Version,
    /// `--install DIR`: copy ourselves into DIR, probe nothing.
    Install(PathBuf),
    Probe(Box<Config>),
}

/// Looks up an environment variable; injected so that tests need no process environment.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The prefix of every variable of ours.
const PREFIX: &str = "HEALTHPROBE_";

/// The process environment, as `parse` reads it, and the names of the HEALTHPROBE_*
/// variables set (not empty). One pass over the environment finds ours, and the ~17
/// lookups of one are answered from them: a container's environment often holds hundreds
/// of variables, and each pass over it costs a few instructions per variable. Other names
/// (PATH for `-- CMD`, a `${VAR}`) take a pass each, only when asked for.
pub fn process_env(
    environment: &sys::Environment,
) -> (impl Fn(&str) -> Option<OsString> + '_, Vec<String>) {
    let variables = environment.with_prefix(PREFIX.as_bytes());
    let ours = variables
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, _)| name.to_string_lossy().into_owned())
        .collect();
    let lookup = move |name: &str| {
        let value = match name.starts_with(PREFIX) {
            // The first, as getenv(3) would find it.
            true => variables
                .iter()
                .find(|(variable, _)| *variable == name)
                .map(|(_, value)| *value),
            false => environment.get(name),
        };
        value.map(OsStr::to_os_string)
    };
    (lookup, ours)
}

/// `kinds`: every kind of target (the probe module's KINDS), as its URL is written.
/// `ours`: the names of the HEALTHPROBE_* variables set, each of which must be known.
pub fn parse(
    mut args: Vec<OsString>,
    env: Env,
    ours: &[String],
    kinds: &[impl AsRef<Syntax>],
) -> Result<Command, Error> {
    // First, so that `-- /app --help` asks /app for help, not us.
    let exec = split_command(&mut args, env)?;
    let named = args
        .iter()
        .filter(|arg| arg.as_encoded_bytes().starts_with(b"-"))
        .map(|arg| {
            let text = arg.to_string_lossy();
            text.split('=').next().unwrap_or_default().to_string()
        })
        .collect();
    let mut args = Arguments::from_vec(args);
    if args.contains(HELP_OPTION.keys()) {
        return Ok(Command::Help);
    }
    if args.contains(VERSION.keys()) {
        return Ok(Command::Version);
    }
    // from_fn rather than from_os_str: only the former knows `--install=DIR`.
    let install = args
        .opt_value_from_fn(INSTALL.keys(), |dir| {
            Ok::<_, Infallible>(PathBuf::from(dir))
        })
        .map_err(|e| argument_error(e, INSTALL.long))?;
    if let Some(dir) = install {
        return install_command(dir, args);
    }
    check_variables(ours)?;
    let mut options = Options {
        args,
        env,
        given: Vec::new(),
        named,
    };

    let timeout = options
        .value(&TIMEOUT)?
        .map(|setting| setting.duration(Bare::Checked))
        .transpose()?
        .unwrap_or(DEFAULT_TIMEOUT);
    let connect_timeout = options
        .value(&CONNECT_TIMEOUT)?
        .map(|setting| setting.duration(Bare::Checked))
        .transpose()?
        .unwrap_or(timeout);
    let method = options
        .value(&METHOD)?
        .map(|setting| setting.parse(parse_method, "an HTTP method such as GET or HEAD"))
        .transpose()?
        .unwrap_or_else(|| "GET".to_string());
    let headers = options
        .values(&HEADER)?
        .iter()
        .map(|setting| setting.parse(parse_header, "'Name: value' on one line"))
        .collect::<Result<Vec<_>, _>>()?;
    let status = options
        .value(&STATUS)?
        .map(|setting| {
            setting.parse(
                StatusSet::parse,
                "status codes 100-599 as 200, 2xx, 200-299 or a comma list of these",
            )
        })
        .transpose()?;
    let body_contains = options
        .value(&BODY_CONTAINS)?
        .map(|setting| setting.parse(non_empty_line, "some text on one line"))
        .transpose()?;
    let json = options
        .values(&JSON)?
        .iter()
        .map(|setting| {
            setting.parse(
                JsonCheck::parse,
                "a JSON Pointer such as /status, then =VALUE[,VALUE...] if a value is wanted",
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let unix_socket = options
        .value(&UNIX_SOCKET)?
        .map(|setting| {
            setting.parse(
                |text| UnixSocket::parse(text).ok(),
                "the path of a unix socket (at most 107 bytes), or @NAME for an abstract one",
            )
        })
        .transpose()?;
    let mut user_agent = options
        .value(&USER_AGENT)?
        .map(|setting| setting.parse(header_value, "text on one line"))
        .transpose()?
        .unwrap_or_else(|| concat!("healthprobe/", env!("CARGO_PKG_VERSION")).to_string());
    let proxy = options
        .value(&PROXY)?
        .map(|setting| {
            // The error quotes it with its userinfo masked (Setting::new).
            parse_proxy(&setting.text)
                .ok_or_else(|| {
                    setting.invalid(
                        "an http://[USER:PASS@]HOST:PORT proxy URL ('/', '?' and '#' in USER:PASS percent-encoded)",
                    )
                })
        })
        .transpose()?;
    let cacert = options.value(&CACERT)?;
    let client_cert = options.value(&CERT)?;
    let client_key = options.value(&KEY)?;
    let insecure = options.flag(&INSECURE)?;
    let wait = options
        .value(&WAIT)?
        .map(|setting| setting.duration(Bare::Seconds))
        .transpose()?;
    let interval_setting = options.value(&INTERVAL)?;
    let interval = interval_setting
        .as_ref()
        .map(|setting| setting.duration(Bare::Seconds))
        .transpose()?
        .unwrap_or(DEFAULT_INTERVAL);
    let quiet = options.flag(&QUIET)?;
    let verbose = options.flag(&VERBOSE)?;
    let given = std::mem::take(&mut options.given);
    let targets = options.targets(kinds)?;
    if targets.len() > MAX_TARGETS {
        return Err(Error::TooManyTargets(targets.len()));
    }

    let hosts = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("host"));
    if hosts.count() > 1 {
        return Err(Error::Conflict(
            "--header gives Host more than once; a request has one Host",
        ));
    }
    // An empty Accept or User-Agent removes the header, as under the kubelet (an empty
    // Accept can draw a 406; Go writes no empty User-Agent); other empty headers are sent.
    let (removed, headers): (Vec<_>, Vec<_>) = headers.into_iter().partition(|(name, value)| {
        value.is_empty()
            && ["accept", "user-agent"]
                .iter()
                .any(|removable| name.eq_ignore_ascii_case(removable))
    });
    let removes = |wanted: &str| {
        removed
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(wanted))
    };
    let accept = !removes("accept");
    if removes("user-agent") {
        user_agent.clear();
    }
    if body_contains.is_some() && method == "HEAD" {
        return Err(Error::Conflict(
            "--body-contains needs a body, and a HEAD response has none",
        ));
    }
    if !json.is_empty() && method == "HEAD" {
        return Err(Error::Conflict(
            "--json needs a body, and a HEAD response has none",
        ));
    }
    if unix_socket.is_some() && proxy.is_some() {
        return Err(Error::Conflict(
            "--unix-socket and --proxy both say where to connect: give one or the other",
        ));
    }
    #[cfg(feature = "tls")]
    let tls = tls_config(cacert, client_cert, client_key, insecure)?;
    #[cfg(not(feature = "tls"))]
    if let Some(setting) = [cacert, client_cert, client_key]
        .into_iter()
        .flatten()
        .next()
    {
        return Err(Error::NeedsTls(setting.source));
    } else if insecure {
        return Err(Error::NeedsTls("-k/--insecure".to_string()));
    }
    // Only the flag: HEALTHPROBE_INTERVAL may sit in an environment that an entrypoint
    // (with --wait) and a HEALTHCHECK (without) share, and must not break the latter.
    if wait.is_none() && interval_setting.is_some_and(|setting| setting.source == "--interval") {
        return Err(Error::Conflict(
            "--interval needs --wait (or HEALTHPROBE_WAIT): without it there is one attempt",
        ));
    }
    // Only flags: a variable may sit in an environment shared by probes of other kinds.
    if let Some(spec) = given
        .iter()
        .find(|spec| !targets.iter().any(|target| spec.applies_to(target.scheme)))
    {
        return Err(Error::Inapplicable {
            option: spec.long,
            schemes: spec.schemes,
        });
    }
    let http = HttpOptions {
        method,
        headers,
        accept,
        status,
        body_contains,
        user_agent,
        proxy,
        unix_socket,
        json,
        insecure,
        #[cfg(feature = "tls")]
        tls,
    };
    // Each kind's own rule on the options (gRPC's on metadata), in the order of the
    // targets, as the one rule it replaced ran.
    for check in targets
        .iter()
        .filter_map(|target| kinds[target.kind].as_ref().check)
    {
        check(&http.headers)?;
    }
    Ok(Command::Probe(Box::new(Config {
        targets,
        timeout,
        connect_timeout,
        http,
        quiet,
        verbose,
        wait,
        interval,
        exec,
    })))
}

/// --cacert, --cert, --key and --insecure, checked together, their files read now so
/// that a bad one is a usage error.
#[cfg(feature = "tls")]
fn tls_config(
    cacert: Option<options::Setting>,
    client_cert: Option<options::Setting>,
    client_key: Option<options::Setting>,
    insecure: bool,
) -> Result<ureq::tls::TlsConfig, Error> {
    use crate::tls::{self, PemFile};
    let file = |setting: options::Setting| PemFile {
        source: setting.source,
        path: setting.text,
        quoted: setting.quoted,
    };
    let client = match (client_cert, client_key) {
        (Some(cert), Some(key)) => Some((file(cert), file(key))),
        (None, None) => None,
        _ => {
            return Err(Error::Conflict(
                "--cert and --key go together: give both or neither",
            ));
        }
    };
    if insecure && cacert.is_some() {
        return Err(Error::Conflict(
            "--insecure turns off the verification that --cacert sets up: give one or the other",
        ));
    }
    tls::config(cacert.map(file), client, insecure)
}

/// Takes `-- CMD [ARGS...]` off the end of the arguments. CMD and ARGS are kept exactly as
/// given (not `${VAR}`-expanded, not UTF-8-checked): they must run as if started directly.
fn split_command(args: &mut Vec<OsString>, env: Env) -> Result<Option<Exec>, Error> {
    let Some(separator) = args.iter().position(|arg| arg == "--") else {
        return Ok(None);
    };
    let mut command = args.split_off(separator).into_iter().skip(1);
    let program = command.next().ok_or(Error::MissingCommand)?;
    Ok(Some(Exec {
        program,
        args: command.collect(),
        search_path: env("PATH"),
    }))
}

/// `--install DIR` stands alone: probe options or targets beside it are a mistake.
fn install_command(dir: PathBuf, args: Arguments) -> Result<Command, Error> {
    if dir.as_os_str().is_empty() {
        return Err(Error::MissingValue("--install".to_string()));
    }
    match args.finish().first() {
        Some(other) => Err(Error::InstallWith(other.to_string_lossy().into_owned())),
        None => Ok(Command::Install(dir)),
    }
}
