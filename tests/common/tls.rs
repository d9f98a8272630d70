//! TLS for the tests (built with `--features tls` only): a CA and certificates made fresh
//! by each test with rcgen, written as PEM files for the binary to read, and a rustls
//! server on loopback port 0 that answers like `Server`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};

use super::Reply;

/// A folder of PEM files and the CA that signed them, unique to one test.
pub struct Pki {
    pub dir: PathBuf,
    ca: Issuer<'static, KeyPair>,
    ca_pem: String,
}

/// A certificate and its key, as PEM files and as what a rustls server needs.
pub struct Identity {
    pub cert: String,
    pub key: String,
    chain: Vec<CertificateDer<'static>>,
    key_der: PrivateKeyDer<'static>,
}

impl Identity {
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key_der.clone_key())
            .expect("server certificate")
    }

    /// A server that requires a client certificate signed by `pki`'s CA.
    pub fn mutual_server_config(&self, pki: &Pki) -> ServerConfig {
        let provider = Arc::new(ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).expect("CA PEM"))
            .expect("CA root");
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .expect("client verifier");
        ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key_der.clone_key())
            .expect("server certificate")
    }
}

impl Pki {
    /// A new CA, its certificate written to `ca.pem` in a folder of its own.
    pub fn new() -> Pki {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let id = format!(
            "{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("tls-{id}"));
        std::fs::create_dir_all(&dir).expect("create the certificate folder");
        let mut params = CertificateParams::new(Vec::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
            .distinguished_name
            .push(DnType::CommonName, format!("healthprobe test CA {id}"));
        let key = KeyPair::generate().expect("CA key");
        let ca_pem = params.self_signed(&key).expect("CA certificate").pem();
        let pki = Pki {
            dir,
            ca: Issuer::new(params, key),
            ca_pem,
        };
        std::fs::write(pki.path("ca.pem"), &pki.ca_pem).expect("write ca.pem");
        pki
    }

    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).to_string_lossy().into_owned()
    }

    pub fn ca(&self) -> String {
        self.path("ca.pem")
    }

    /// A server certificate for `names` (DNS names or IP addresses), signed by the CA.
    pub fn server(&self, name: &str, names: &[&str]) -> Identity {
        self.server_with(name, names, |_| {})
    }

    /// The same, with `adjust` changing its parameters first (validity, for instance).
    pub fn server_with(
        &self,
        name: &str,
        names: &[&str],
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> Identity {
        let mut params = leaf_params(names, ExtendedKeyUsagePurpose::ServerAuth);
        adjust(&mut params);
        self.issue(name, params, KeyPair::generate().expect("key"))
    }

    /// A client certificate signed by the CA, for `key` (PKCS#8 PEM).
    pub fn client(&self, name: &str, key: KeyPair) -> Identity {
        let params = leaf_params(&[], ExtendedKeyUsagePurpose::ClientAuth);
        self.issue(name, params, key)
    }

    /// A certificate that signs itself, with no CA behind it.
    pub fn self_signed(&self, name: &str, names: &[&str]) -> Identity {
        let params = leaf_params(names, ExtendedKeyUsagePurpose::ServerAuth);
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("self-signed certificate");
        self.write(name, cert.pem(), &key)
    }

    /// What `openssl req -x509` makes: a self-signed certificate that is also a CA
    /// (basicConstraints CA:TRUE), used by the server as its own.
    pub fn self_signed_ca(&self, name: &str, names: &[&str]) -> Identity {
        let mut params = leaf_params(names, ExtendedKeyUsagePurpose::ServerAuth);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("self-signed certificate");
        self.write(name, cert.pem(), &key)
    }

    fn issue(&self, name: &str, params: CertificateParams, key: KeyPair) -> Identity {
        let cert = params
            .signed_by(&key, &self.ca)
            .expect("sign the certificate");
        self.write(name, cert.pem(), &key)
    }

    fn write(&self, name: &str, cert_pem: String, key: &KeyPair) -> Identity {
        let cert = self.path(&format!("{name}.pem"));
        let key_path = self.path(&format!("{name}.key"));
        std::fs::write(&cert, &cert_pem).expect("write the certificate");
        std::fs::write(&key_path, key.serialize_pem()).expect("write the key");
        Identity {
            chain: vec![CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("cert PEM")],
            key_der: PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes())
                .expect("key PEM"),
            cert,
            key: key_path,
        }
    }

    /// The key file rewritten by openssl in its "traditional" form: PKCS#1 for RSA
    /// ("RSA PRIVATE KEY"), SEC1 for EC ("EC PRIVATE KEY"). Returns the new path.
    pub fn traditional_key(&self, identity: &Identity, name: &str) -> String {
        let out = self.path(name);
        let status = Command::new("openssl")
            .args(["pkey", "-traditional", "-in", &identity.key, "-out", &out])
            .status()
            .expect("openssl runs (apt install openssl)");
        assert!(status.success(), "openssl pkey -traditional failed");
        out
    }

    /// An RSA key made by openssl (ring cannot generate RSA keys), as PKCS#8.
    pub fn rsa_key(&self, name: &str) -> KeyPair {
        let path = self.path(name);
        let status = Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .args(["-out", &path])
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs (apt install openssl)");
        assert!(status.success(), "openssl genpkey failed");
        let pem = std::fs::read_to_string(&path).expect("read the RSA key");
        KeyPair::from_pem(&pem).expect("rcgen reads the RSA key")
    }
}

fn leaf_params(names: &[&str], usage: ExtendedKeyUsagePurpose) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("certificate params");
    params.extended_key_usages = vec![usage];
    params
        .distinguished_name
        .push(DnType::CommonName, "healthprobe test");
    params
}

/// A TLS server on loopback port 0; `requests` holds each request head it received.
pub struct TlsServer {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl TlsServer {
    /// `bind` is "127.0.0.1:0" or "[::1]:0"; `handler` gets the request head and answers
    /// with Reply::Bytes, Reply::Silent or Reply::Close.
    pub fn start(
        bind: &str,
        config: ServerConfig,
        handler: impl Fn(&str) -> Reply + Send + Sync + 'static,
    ) -> TlsServer {
        let listener = TcpListener::bind(bind).expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let config = Arc::new(config);
        let handler = Arc::new(handler);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (config, handler, seen) = (config.clone(), handler.clone(), seen.clone());
                thread::spawn(move || serve_one(stream, config, &*handler, &seen));
            }
        });
        TlsServer { addr, requests }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `https://localhost:PORT/PATH`: the name the test certificates are made for.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port())
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("requests lock").clone()
    }
}

fn serve_one(
    stream: TcpStream,
    config: Arc<ServerConfig>,
    handler: &(dyn Fn(&str) -> Reply + Send + Sync),
    seen: &Mutex<Vec<String>>,
) {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let Ok(connection) = ServerConnection::new(config) else {
        return;
    };
    let mut tls = StreamOwned::new(connection, stream);
    // The first read runs the handshake; a client that gives up there ends here.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while head.len() < 64 * 1024 && !head.ends_with(b"\r\n\r\n") {
        match tls.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let reply = handler(&head);
    seen.lock().expect("requests lock").push(head);
    match reply {
        Reply::Bytes(bytes) => {
            tls.write_all(&bytes).ok();
            tls.conn.send_close_notify();
            tls.flush().ok();
            // Let the client read everything before the socket goes away.
            let mut sink = [0u8; 1024];
            while matches!(tls.read(&mut sink), Ok(n) if n > 0) {}
        }
        Reply::Silent => thread::sleep(Duration::from_secs(30)),
        Reply::Close => {}
        // The TLS tests need only the replies above.
        _ => unimplemented!("not offered over TLS"),
    }
}
