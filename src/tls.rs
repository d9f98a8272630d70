//! HTTPS settings and failures (the TLS build only): --cacert, --cert and --key are read
//! and checked before anything is probed, so that a bad file is a usage error naming it;
//! and a failed handshake is put in the few words of an output line.
//! ureq's rustls does the TLS of https://; for grpcs:// this module makes the same
//! rustls configuration (from the same TlsConfig, plus ALPN h2) and runs the handshake.

use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::pki_types::{ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{
    AlertDescription, CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct,
    InvalidMessage, RootCertStore, SignatureScheme, StreamOwned,
};
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

use crate::error::{Error, Phase};
use crate::net;

/// Bundles of every public CA are ~250 KiB; anything far larger is not a PEM file, and
/// reading it whole (think /dev/zero) would be unbounded.
const MAX_PEM_FILE: u64 = 1024 * 1024;
/// open(2)'s O_NONBLOCK, the same on every Linux architecture we build for.
const O_NONBLOCK: i32 = 0o4000;

/// A file named by an option, and the option or variable that named it, for errors.
#[derive(Debug)]
pub struct PemFile {
    pub source: String,
    pub path: String,
    /// The path as written (before `${VAR}` expansion), as errors quote it.
    pub quoted: String,
}

/// ureq's TLS settings for every https:// target: the bundled web PKI roots unless
/// `cacert` names others, no verification with `insecure`, a client certificate if given.
pub fn config(
    cacert: Option<PemFile>,
    client: Option<(PemFile, PemFile)>,
    insecure: bool,
) -> Result<TlsConfig, Error> {
    let root_certs = match &cacert {
        Some(file) => RootCerts::from(trusted_certificates(file)?),
        None => RootCerts::WebPki,
    };
    let client_cert = match &client {
        Some((cert, key)) => Some(client_certificate(cert, key)?),
        None => None,
    };
    Ok(TlsConfig::builder()
        .root_certs(root_certs)
        .client_cert(client_cert)
        // The user's explicit choice; every output line of an https:// target says so.
        .disable_verification(insecure)
        .build())
}

/// The CA certificates of --cacert, each checked to be usable as a trust anchor (rustls
/// would otherwise skip a bad one without a word, and every probe would fail).
fn trusted_certificates(file: &PemFile) -> Result<Vec<Certificate<'static>>, Error> {
    let certificates = certificates(file)?;
    for (index, certificate) in certificates.iter().enumerate() {
        RootCertStore::empty()
            .add(CertificateDer::from(certificate.der()))
            .map_err(|e| {
                file.error(format!(
                    "certificate {} is not a usable CA certificate: {e}",
                    index + 1
                ))
            })?;
    }
    Ok(certificates)
}

/// --cert and --key, checked to load and to match each other: ureq would panic on a key
/// that rustls refuses, and a panic is no way to report a typo.
fn client_certificate(cert: &PemFile, key: &PemFile) -> Result<ClientCert, Error> {
    let chain = certificates(cert)?;
    let private_key = read_pem(key)?
        .into_iter()
        .find_map(|item| match item {
            PemItem::PrivateKey(key) => Some(key),
            _ => None,
        })
        .ok_or_else(|| {
            key.error("no private key in it (PEM: PKCS#8, PKCS#1 or SEC1)".to_string())
        })?;
    check_key_pair(&chain, &private_key).map_err(|why| key.error(why))?;
    Ok(ClientCert::new_with_certs(&chain, private_key))
}

fn check_key_pair(chain: &[Certificate<'static>], key: &PrivateKey<'static>) -> Result<(), String> {
    let key_der = PrivateKeyDer::try_from(key.der())
        .map_err(|why| format!("not a usable private key: {why}"))?
        .clone_key();
    let chain = chain
        .iter()
        .map(|certificate| CertificateDer::from(certificate.der()).into_owned())
        .collect();
    let provider = rustls::crypto::ring::default_provider();
    match CertifiedKey::from_der(chain, key_der, &provider) {
        Ok(_) => Ok(()),
        Err(rustls::Error::InconsistentKeys(_)) => {
            Err("this key does not belong to the --cert certificate".to_string())
        }
        Err(e) => Err(format!("not a usable private key: {e}")),
    }
}

/// Every certificate in the file; at least one.
fn certificates(file: &PemFile) -> Result<Vec<Certificate<'static>>, Error> {
    let certificates: Vec<_> = read_pem(file)?
        .into_iter()
        .filter_map(|item| match item {
            PemItem::Certificate(certificate) => Some(certificate),
            _ => None,
        })
        .collect();
    if certificates.is_empty() {
        return Err(
            file.error("no certificate in it (PEM: -----BEGIN CERTIFICATE-----)".to_string())
        );
    }
    Ok(certificates)
}

/// The PEM items of a file, read with ureq's own parser.
fn read_pem(file: &PemFile) -> Result<Vec<PemItem<'static>>, Error> {
    // O_NONBLOCK: opening a FIFO would otherwise wait for a writer, past any deadline.
    // It changes nothing for a regular file, the only kind read.
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(&file.path)
        .map_err(|e| file.error(format!("cannot read it: {}", read_reason(&e))))?;
    match opened.metadata() {
        Ok(metadata) if metadata.is_file() => {}
        Ok(metadata) if metadata.is_dir() => {
            return Err(file.error("cannot read it: it is a directory".to_string()));
        }
        // A FIFO, socket or device (/dev/zero, /dev/stdin) may never end.
        Ok(_) => return Err(file.error("not a regular file".to_string())),
        Err(e) => return Err(file.error(format!("cannot read it: {}", read_reason(&e)))),
    }
    let mut bytes = Vec::new();
    opened
        .take(MAX_PEM_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| file.error(format!("cannot read it: {}", read_reason(&e))))?;
    if bytes.len() as u64 > MAX_PEM_FILE {
        return Err(file.error("larger than 1 MiB: not a PEM file".to_string()));
    }
    ureq::tls::parse_pem(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file.error(format!("not valid PEM: {}", pem_reason(&e))))
}

fn pem_reason(error: &ureq::Error) -> String {
    use rustls::pki_types::pem::Error as Pem;
    match error {
        ureq::Error::Pem(Pem::Base64Decode(_)) => "bad base64 in a section".to_string(),
        ureq::Error::Pem(Pem::MissingSectionEnd { .. }) => "a section has no END line".to_string(),
        ureq::Error::Pem(Pem::IllegalSectionStart { .. }) => "a malformed BEGIN line".to_string(),
        other => other.to_string(),
    }
}

fn read_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        io::ErrorKind::IsADirectory => "it is a directory".to_string(),
        _ => e.to_string(),
    }
}

impl PemFile {
    fn error(&self, reason: String) -> Error {
        Error::File {
            source: self.source.clone(),
            path: self.quoted.clone(),
            reason,
        }
    }
}

/// rustls's configuration for grpcs://, as ureq builds it from `config` for https://
/// (the same roots, verification and client certificate), with ALPN h2 as gRPC requires.
fn grpcs_config(config: &TlsConfig) -> Result<ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(describe(&e)))?;
    let builder = match (config.disable_verification(), config.root_certs()) {
        (true, _) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified)),
        (false, RootCerts::Specific(certificates)) => {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(
                certificates
                    .iter()
                    .map(|certificate| CertificateDer::from(certificate.der())),
            );
            builder.with_root_certificates(roots)
        }
        // The roots ureq bundles for https://: the same crate, so no second copy.
        (false, _) => builder.with_root_certificates(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }),
    };
    let mut rustls_config = match config.client_cert() {
        Some(client) => {
            let chain = client
                .certs()
                .iter()
                .map(|certificate| CertificateDer::from(certificate.der()).into_owned())
                .collect();
            // Checked when --key was read (check_key_pair).
            let key = PrivateKeyDer::try_from(client.private_key().der())
                .map_err(|why| Error::Tls(format!("TLS failed: {why}")))?
                .clone_key();
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| Error::Tls(describe(&e)))?
        }
        None => builder.with_no_client_auth(),
    };
    rustls_config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(rustls_config)
}

/// Opens TLS for grpcs:// on `stream` and completes the handshake (under the stream's
/// deadline), with TLS failures in the words https:// uses.
pub fn handshake<S: Read + Write>(
    stream: S,
    host: &str,
    config: &TlsConfig,
) -> Result<impl Read + Write, Error> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| Error::Tls(format!("TLS failed: '{host}' is no name for a certificate")))?;
    let connection = ClientConnection::new(Arc::new(grpcs_config(config)?), name)
        .map_err(|e| Error::Tls(describe(&e)))?;
    let mut tls = StreamOwned::new(connection, stream);
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .map_err(|e| io_failure(&e))?;
    }
    Ok(Described(tls))
}

/// A TLS stream whose errors carry the words of `describe`: TLS 1.3 servers refuse a
/// client certificate after the handshake, with an alert that the exchange reads.
struct Described<T>(T);

impl<T> Described<T> {
    fn words(e: io::Error) -> io::Error {
        match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(tls_error) => io::Error::other(describe(tls_error)),
            None => e,
        }
    }
}

impl<T: Read> Read for Described<T> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        self.0.read(buffer).map_err(Self::words)
    }
}

impl<T: Write> Write for Described<T> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.write(bytes).map_err(Self::words)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(Self::words)
    }
}

/// An io error of the handshake: a TLS failure (rustls reports through io), or the
/// connection's own.
fn io_failure(e: &io::Error) -> Error {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls_error) => Error::Tls(describe(tls_error)),
        None => net::io_failure(e, Phase::Handshake),
    }
}

/// -k/--insecure for grpcs://: every certificate accepted, as ureq's own verifier does
/// for https://.
#[derive(Debug)]
struct Unverified;

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Why TLS failed, in the words of the output line; None when `error` is not about TLS.
pub fn failure(error: &ureq::Error) -> Option<String> {
    let tls_error = match error {
        ureq::Error::Rustls(e) => e,
        // rustls reports through std::io, so its error often arrives wrapped.
        ureq::Error::Io(e) => e.get_ref()?.downcast_ref::<rustls::Error>()?,
        ureq::Error::Tls(why) => return Some(format!("TLS failed: {why}")),
        _ => return None,
    };
    Some(describe(tls_error))
}

fn describe(error: &rustls::Error) -> String {
    use CertificateError as Certificate;
    match error {
        rustls::Error::InvalidCertificate(Certificate::UnknownIssuer) => {
            "certificate not trusted: unknown issuer (for a private CA, give --cacert)".to_string()
        }
        rustls::Error::InvalidCertificate(Certificate::NotValidForNameContext {
            expected,
            presented,
        }) if !presented.is_empty() => {
            // webpki shows them as `DnsName("example.com")` or `IpAddress(10.0.0.1)`.
            let names: Vec<&str> = presented
                .iter()
                .map(|name| {
                    name.split_once('(')
                        .and_then(|(_, inner)| inner.strip_suffix(')'))
                        .map_or(name.as_str(), |inner| inner.trim_matches('"'))
                })
                .collect();
            format!(
                "certificate name mismatch: it is for {}, not {}",
                names.join(", "),
                expected.to_str()
            )
        }
        rustls::Error::InvalidCertificate(
            Certificate::NotValidForName | Certificate::NotValidForNameContext { .. },
        ) => "certificate name mismatch".to_string(),
        rustls::Error::InvalidCertificate(
            Certificate::Expired | Certificate::ExpiredContext { .. },
        ) => "certificate expired".to_string(),
        rustls::Error::InvalidCertificate(
            Certificate::NotValidYet | Certificate::NotValidYetContext { .. },
        ) => "certificate not valid yet".to_string(),
        rustls::Error::InvalidCertificate(Certificate::BadSignature) => {
            "certificate not trusted: bad signature (another CA of the same name?)".to_string()
        }
        rustls::Error::InvalidCertificate(Certificate::Revoked) => {
            "certificate revoked".to_string()
        }
        // webpki's own errors arrive as text. OpenSSL's `req -x509` makes certificates
        // with CA:TRUE, which webpki refuses as a server's own, even when --cacert names it.
        rustls::Error::InvalidCertificate(Certificate::Other(other)) => {
            match other.to_string().as_str() {
                "CaUsedAsEndEntity" => "certificate rejected: the server presents a CA \
                    certificate as its own (self-signed with CA:TRUE? see docs/https.md)"
                    .to_string(),
                name => format!("invalid certificate: {}", words(name)),
            }
        }
        rustls::Error::InvalidCertificate(other) => format!("invalid certificate: {other}"),
        rustls::Error::AlertReceived(AlertDescription::CertificateRequired) => {
            "TLS refused by the server: it requires a client certificate (--cert and --key)"
                .to_string()
        }
        // A server sends these about the client certificate.
        rustls::Error::AlertReceived(
            alert @ (AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied),
        ) => format!(
            "TLS refused by the server: it rejects the client certificate ({})",
            words(&format!("{alert:?}"))
        ),
        rustls::Error::AlertReceived(alert) => {
            format!(
                "TLS refused by the server: {}",
                words(&format!("{alert:?}"))
            )
        }
        // What a plain-text answer looks like to a TLS client.
        rustls::Error::InvalidMessage(
            InvalidMessage::InvalidContentType | InvalidMessage::UnknownProtocolVersion,
        ) => "the server does not speak TLS (plain HTTP on this port?)".to_string(),
        rustls::Error::PeerIncompatible(_) => {
            "TLS failed: no protocol version or cipher in common with the server".to_string()
        }
        other => format!("TLS failed: {other}"),
    }
}

/// `HandshakeFailure` -> `handshake failure`, `UnknownCA` -> `unknown ca`.
fn words(camel: &str) -> String {
    let mut text = String::with_capacity(camel.len() + 4);
    let mut after_lowercase = false;
    for c in camel.chars() {
        if c.is_ascii_uppercase() && after_lowercase {
            text.push(' ');
        }
        after_lowercase = c.is_ascii_lowercase();
        text.push(c.to_ascii_lowercase());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_names_read_as_words() {
        assert_eq!(words("HandshakeFailure"), "handshake failure");
        assert_eq!(words("UnknownCA"), "unknown ca");
        assert_eq!(words("Unknown(42)"), "unknown(42)");
    }
}
