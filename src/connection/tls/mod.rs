//! TLS for every connection the engine opens, as node-postgres asks Node's `tls.connect` for it.
//!
//! rustls (with the `ring` provider) rather than OpenSSL: the addon then needs no system OpenSSL,
//! so one prebuilt binary per platform runs on any distribution, musl included. Certificates are
//! verified with webpki, with two allowances so the answers match OpenSSL's where users rely on
//! them: a self-signed server certificate given as its own `ca` is trusted (webpki would refuse it
//! as "a CA used as an end entity"), and the host-name check can be switched off on its own
//! (libpq's `verify-ca`) while the chain is still verified.

use crate::error::{BossError, Result};
use pem::{certificates, private_key};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};
use verify::{default_roots, ServerVerifier};

mod pem;
mod verify;

/// A TLS protocol version as Node names it (`minVersion` / `maxVersion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    V1_0,
    V1_1,
    V1_2,
    V1_3,
}

impl TlsVersion {
    pub fn parse(name: &str) -> Option<TlsVersion> {
        match name {
            "TLSv1" => Some(TlsVersion::V1_0),
            "TLSv1.1" => Some(TlsVersion::V1_1),
            "TLSv1.2" => Some(TlsVersion::V1_2),
            "TLSv1.3" => Some(TlsVersion::V1_3),
            _ => None,
        }
    }
}

/// What the `ssl` setting asks of each connection (node-postgres semantics, resolved).
#[derive(Clone, Default)]
pub struct TlsSettings {
    /// `rejectUnauthorized !== false`: the certificate chain must lead to a trusted root.
    pub verify_chain: bool,
    /// The server's certificate must name the host (`checkServerIdentity`); off for `verify-ca`.
    pub verify_host: bool,
    /// `ca`: PEM texts replacing the default roots.
    pub ca: Option<Vec<String>>,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub passphrase: Option<String>,
    /// Used for SNI and the host check only when connecting to an IP address, as node-postgres does.
    pub servername: Option<String>,
    pub min_version: Option<TlsVersion>,
    pub max_version: Option<TlsVersion>,
    /// `sslnegotiation=direct`: TLS from the first byte, ALPN `postgresql`.
    pub direct: bool,
    /// `ssl.checkServerIdentity` is a function of the caller's: it, not the native check, decides
    /// whether the certificate is good for the host (after the chain is verified, as in Node).
    pub identity_function: bool,
}

/// The caller's `ssl.checkServerIdentity(hostname, cert)`, given the name checked and the server
/// certificate (DER); an error refuses the connection.
pub trait IdentityCheck: Send + Sync {
    fn check(
        &self,
        host: String,
        certificate: Vec<u8>,
    ) -> futures_util::future::BoxFuture<'static, Result<()>>;
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("verify_chain", &self.verify_chain)
            .field("verify_host", &self.verify_host)
            .field("ca", &self.ca.as_ref().map(Vec::len))
            .field("cert", &self.cert.is_some())
            .field("key", &self.key.as_ref().map(|_| "(hidden)"))
            .field("servername", &self.servername)
            .field("min_version", &self.min_version)
            .field("max_version", &self.max_version)
            .field("direct", &self.direct)
            .finish()
    }
}

pub(super) fn refused(message: impl Into<String>) -> BossError {
    BossError::assertion(format!("configuration assert: {}", message.into()))
}

pub(super) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// A TLS failure worded for the user, with the `code` Node's TLS gives the same failure.
#[derive(Debug)]
pub struct TlsFailure {
    pub message: String,
    pub code: Option<String>,
}

impl TlsFailure {
    fn new(message: impl Into<String>) -> TlsFailure {
        TlsFailure {
            message: message.into(),
            code: None,
        }
    }
}

impl std::fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TlsFailure {}

/// The connector for one instance's connections: tokio-postgres asks it for a TLS session per
/// connection, naming the host it dialled.
#[derive(Clone)]
pub struct Connector {
    config: Arc<rustls::ClientConfig>,
    servername: Option<String>,
    /// Set when `ssl.checkServerIdentity` is a function; `Some(None)` until the binding gives it.
    identity: Option<Option<Arc<dyn IdentityCheck>>>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connector")
    }
}

impl Connector {
    /// Validates the settings and builds the rustls configuration once (bad PEM, a wrong
    /// passphrase or an impossible version range are refused here, at construction).
    pub fn new(settings: &TlsSettings) -> Result<Connector> {
        let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
        let min = settings.min_version.unwrap_or(TlsVersion::V1_2);
        let max = settings.max_version.unwrap_or(TlsVersion::V1_3);
        if max < TlsVersion::V1_2 {
            return Err(refused(
                "ssl.maxVersion below TLSv1.2 is not supported: pg-boss-native speaks TLS 1.2 and 1.3",
            ));
        }
        if min > max {
            return Err(refused("ssl.minVersion is above ssl.maxVersion"));
        }
        if min <= TlsVersion::V1_3 && max >= TlsVersion::V1_3 {
            versions.push(&rustls::version::TLS13);
        }
        if min <= TlsVersion::V1_2 {
            versions.push(&rustls::version::TLS12);
        }

        let (roots, pinned, roots_named) = match &settings.ca {
            Some(pems) => {
                let mut certs = Vec::new();
                for pem in pems {
                    certs.extend(certificates(pem, "ssl.ca")?);
                }
                let anchors = certs
                    .iter()
                    .map(|c| {
                        webpki::anchor_from_trusted_cert(c)
                            .map(|a| a.to_owned())
                            .map_err(|e| refused(format!("ssl.ca holds a certificate that cannot be a root: {e:?}")))
                    })
                    .collect::<Result<Vec<_>>>()?;
                (Arc::new(anchors), certs, "a certificate in ssl.ca")
            }
            None if settings.verify_chain => (
                default_roots(),
                Vec::new(),
                "a certificate authority Node trusts by default; give yours as ssl.ca (or sslrootcert in the connection string)",
            ),
            None => (Arc::new(Vec::new()), Vec::new(), "a trusted certificate authority"),
        };
        let verifier = Arc::new(ServerVerifier {
            roots,
            pinned,
            verify_chain: settings.verify_chain,
            verify_host: settings.verify_host,
            roots_named,
        });
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&versions)
            .map_err(|e| refused(format!("ssl: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match (&settings.cert, &settings.key) {
            (Some(cert), Some(key)) => {
                let chain = certificates(cert, "ssl.cert")?;
                let key = private_key(key, settings.passphrase.as_deref())?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    refused(format!(
                        "ssl.cert and ssl.key do not make a usable pair: {e}"
                    ))
                })?
            }
            (None, None) => builder.with_no_client_auth(),
            (Some(_), None) => return Err(refused("ssl.cert is set without ssl.key")),
            (None, Some(_)) => return Err(refused("ssl.key is set without ssl.cert")),
        };
        if settings.direct {
            config.alpn_protocols = vec![b"postgresql".to_vec()];
        }
        Ok(Connector {
            config: Arc::new(config),
            servername: settings.servername.clone(),
            identity: (settings.identity_function && settings.verify_chain).then_some(None),
        })
    }

    /// The caller's `checkServerIdentity` function, which JSON could not carry.
    pub fn set_identity_check(&mut self, check: Arc<dyn IdentityCheck>) {
        if self.identity.is_some() {
            self.identity = Some(Some(check));
        }
    }

    /// node-postgres sends SNI and checks the certificate against the host it dialled, except
    /// that for an IP address it uses `ssl.servername` when given.
    fn server_name(&self, host: &str) -> std::result::Result<ServerName<'static>, TlsFailure> {
        let chosen = match (host.parse::<IpAddr>(), &self.servername) {
            (Ok(_), Some(name)) => name.as_str(),
            _ => host,
        };
        ServerName::try_from(chosen.to_string())
            .map_err(|_| TlsFailure::new(format!("{chosen} cannot be used as a TLS server name")))
    }
}

type Socket = tokio_postgres::Socket;

impl MakeTlsConnect<Socket> for Connector {
    type Stream = TlsStream;
    type TlsConnect = SessionConnect;
    type Error = TlsFailure;

    fn make_tls_connect(&mut self, host: &str) -> std::result::Result<SessionConnect, TlsFailure> {
        // a unix socket has no host name; the server refuses TLS there and tokio-postgres says so
        let name = if host.is_empty() || host.starts_with('/') {
            ServerName::try_from("localhost").map_err(|e| TlsFailure::new(e.to_string()))?
        } else {
            self.server_name(host)?
        };
        Ok(SessionConnect {
            connector: tokio_rustls::TlsConnector::from(self.config.clone()),
            name,
            identity: self.identity.clone(),
        })
    }
}

pub struct SessionConnect {
    connector: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
    identity: Option<Option<Arc<dyn IdentityCheck>>>,
}

impl TlsConnect<Socket> for SessionConnect {
    type Stream = TlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TlsStream>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        Box::pin(async move {
            let host = verify::name_of(&self.name);
            let stream = self.connector.connect(self.name, stream).await?;
            if let Some(identity) = self.identity {
                let refused = |e: BossError| {
                    let code = match &e.kind {
                        crate::error::ErrorKind::Coded { code } => Some(code.clone()),
                        _ => None,
                    };
                    io::Error::other(TlsFailure {
                        message: e.message,
                        code,
                    })
                };
                let check = identity.ok_or_else(|| {
                    refused(BossError::operational(
                        "ssl.checkServerIdentity is not available to this engine",
                    ))
                })?;
                let certificate = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| c.as_ref().to_vec())
                    .unwrap_or_default();
                check.check(host, certificate).await.map_err(refused)?;
            }
            Ok(TlsStream(stream))
        })
    }
}

/// An encrypted connection. Channel binding is not offered: node-postgres leaves it off
/// (`enableChannelBinding` defaults to false), so SCRAM authentication is the same on both.
pub struct TlsStream(tokio_rustls::client::TlsStream<Socket>);

impl tokio_postgres::tls::TlsStream for TlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

/// A connection error worded for the user, with Node's code where Node has one: TLS refusals say
/// what failed and what to do; the server refusing TLS reads as node-postgres words it.
pub fn describe(err: &tokio_postgres::Error) -> Option<BossError> {
    use std::error::Error as _;
    let mut source = err.source();
    while let Some(cause) = source {
        if cause.to_string() == "server does not support TLS" {
            return Some(BossError::operational(
                "The server does not support SSL connections",
            ));
        }
        if let Some(failure) = cause.downcast_ref::<TlsFailure>() {
            return Some(match &failure.code {
                Some(code) => BossError::coded(code.clone(), failure.message.clone()),
                None => BossError::operational(failure.message.clone()),
            });
        }
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            if let rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) = tls {
                if let Some(failure) = other.0.downcast_ref::<TlsFailure>() {
                    return Some(BossError::coded(
                        failure.code.as_deref().unwrap_or("ERR_TLS_CERT_INVALID"),
                        failure.message.clone(),
                    ));
                }
            }
            return Some(BossError::operational(format!(
                "TLS handshake with the server failed: {tls}"
            )));
        }
        source = match cause
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => cause.source(),
        };
    }
    None
}
