//! The server certificate check: webpki, with OpenSSL's answers where users rely on them (see the
//! module comment of `tls`), and each refusal worded for the user with Node's error code.

use super::{provider, TlsFailure};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

/// The roots Node trusts by default: the Mozilla set it bundles (webpki-roots is the same list),
/// plus `NODE_EXTRA_CA_CERTS`, plus the operating system's store where Node is told to use it
/// (`NODE_USE_SYSTEM_CA=1`, or `--use-system-ca` in `NODE_OPTIONS`). Read once per process.
pub(super) fn default_roots() -> Arc<Vec<TrustAnchor<'static>>> {
    static ROOTS: OnceLock<Arc<Vec<TrustAnchor<'static>>>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots: Vec<TrustAnchor<'static>> = webpki_roots::TLS_SERVER_ROOTS.to_vec();
            let mut extra: Vec<CertificateDer<'static>> = Vec::new();
            let system = std::env::var("NODE_USE_SYSTEM_CA").is_ok_and(|v| v == "1")
                || std::env::var("NODE_OPTIONS").is_ok_and(|v| v.contains("--use-system-ca"));
            if system {
                extra.extend(rustls_native_certs::load_native_certs().certs);
            }
            if let Some(path) = std::env::var_os("NODE_EXTRA_CA_CERTS") {
                if let Ok(pem) = std::fs::read(path) {
                    extra.extend(CertificateDer::pem_slice_iter(&pem).filter_map(|c| c.ok()));
                }
            }
            for cert in &extra {
                if let Ok(anchor) = webpki::anchor_from_trusted_cert(cert) {
                    roots.push(anchor.to_owned());
                }
            }
            Arc::new(roots)
        })
        .clone()
}

/// webpki's names for what a certificate presents (`DnsName("x")`) as OpenSSL writes them.
fn presented_name(name: &str) -> String {
    let inner = |prefix: &str| {
        name.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(')'))
            .map(|r| r.trim_matches('"').to_string())
    };
    if let Some(dns) = inner("DnsName(") {
        format!("DNS:{dns}")
    } else if let Some(ip) = inner("IpAddress(") {
        format!("IP:{ip}")
    } else {
        name.to_string()
    }
}

/// Checks the server's certificate as Node does for node-postgres (see the module comment).
#[derive(Debug)]
pub(super) struct ServerVerifier {
    pub(super) roots: Arc<Vec<TrustAnchor<'static>>>,
    /// The `ca` certificates themselves: one of them may be the server's own (self-signed).
    pub(super) pinned: Vec<CertificateDer<'static>>,
    pub(super) verify_chain: bool,
    pub(super) verify_host: bool,
    /// Where the trust comes from, for messages.
    pub(super) roots_named: &'static str,
}

pub(super) fn name_of(server_name: &ServerName<'_>) -> String {
    match server_name {
        ServerName::DnsName(d) => d.as_ref().to_string(),
        ServerName::IpAddress(ip) => IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

/// Whether `cert` is signed by its own key (what Node calls a self-signed certificate).
fn self_signed(cert: &CertificateDer<'_>, now: UnixTime) -> bool {
    let (Ok(anchor), Ok(parsed)) = (
        webpki::anchor_from_trusted_cert(cert),
        webpki::EndEntityCert::try_from(cert),
    ) else {
        return false;
    };
    let anchors = [anchor];
    let result = parsed.verify_for_usage(
        provider().signature_verification_algorithms.all,
        &anchors,
        &[],
        now,
        webpki::KeyUsage::server_auth(),
        None,
        None,
    );
    matches!(result, Ok(_) | Err(webpki::Error::CaUsedAsEndEntity))
}

impl ServerVerifier {
    fn failure(
        &self,
        server_name: &ServerName<'_>,
        err: webpki::Error,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> rustls::Error {
        let host = name_of(server_name);
        let (code, reason) = match err {
            webpki::Error::UnknownIssuer | webpki::Error::CaUsedAsEndEntity => {
                // Node's codes for the same refusal, by what the server sent
                let code = if self_signed(end_entity, now) {
                    "DEPTH_ZERO_SELF_SIGNED_CERT"
                } else if intermediates.is_empty() {
                    "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
                } else {
                    "SELF_SIGNED_CERT_IN_CHAIN"
                };
                let reason = format!(
                    "its certificate is not trusted (self-signed, or signed by an unknown certificate authority): \
                     it is not signed by {}",
                    self.roots_named
                );
                (code, reason)
            }
            webpki::Error::CertNotValidForName(context) => {
                let presented = if context.presented.is_empty() {
                    "no host name".to_string()
                } else {
                    let names: Vec<String> = context
                        .presented
                        .iter()
                        .map(|n| presented_name(n))
                        .collect();
                    names.join(", ")
                };
                let reason = format!(
                    "its certificate does not match the host name {host} (it is for {presented}); connect with a name it lists, \
                     or, connecting by IP address, set ssl.servername to one"
                );
                ("ERR_TLS_CERT_ALTNAME_INVALID", reason)
            }
            webpki::Error::CertExpired { .. } => (
                "CERT_HAS_EXPIRED",
                "its certificate has expired".to_string(),
            ),
            webpki::Error::CertNotValidYet { .. } => (
                "CERT_NOT_YET_VALID",
                "its certificate is not valid yet".to_string(),
            ),
            other => (
                "ERR_TLS_CERT_INVALID",
                format!("its certificate was refused: {other:?}"),
            ),
        };
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
            Arc::new(TlsFailure {
                message: format!("the server at {host} failed TLS verification: {reason}"),
                code: Some(code.to_string()),
            }),
        )))
    }
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if !self.verify_chain {
            return Ok(ServerCertVerified::assertion());
        }
        let fail = |e| self.failure(server_name, e, end_entity, intermediates, now);
        let cert = webpki::EndEntityCert::try_from(end_entity).map_err(fail)?;
        let algorithms = provider().signature_verification_algorithms.all;
        match cert.verify_for_usage(
            algorithms,
            &self.roots,
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        ) {
            Ok(_) => {}
            // dates are checked before this, so a pinned self-signed certificate is current
            Err(webpki::Error::CaUsedAsEndEntity)
                if self
                    .pinned
                    .iter()
                    .any(|p| p.as_ref() == end_entity.as_ref()) => {}
            Err(e) => return Err(fail(e)),
        }
        if self.verify_host {
            cert.verify_is_valid_for_subject_name(server_name)
                .map_err(fail)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
