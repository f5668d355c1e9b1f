//! Certificates and private keys from PEM text, as Node's TLS takes them.

use super::refused;
use crate::error::Result;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub(super) fn certificates(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| refused(format!("{what} is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(refused(format!("{what} holds no PEM certificate")));
    }
    Ok(certs)
}

pub(super) fn private_key(pem: &str, passphrase: Option<&str>) -> Result<PrivateKeyDer<'static>> {
    if pem.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(refused(
            "ssl.key is encrypted in the legacy OpenSSL format, which pg-boss-native cannot read; \
             convert it to encrypted PKCS#8 (`openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem -out key.p8.pem`) \
             or decrypt it",
        ));
    }
    if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        let Some(passphrase) = passphrase else {
            return Err(refused(
                "ssl.key is encrypted: give its passphrase as ssl.passphrase",
            ));
        };
        let (_, der) = pkcs8::der::pem::decode_vec(pem.trim().as_bytes())
            .map_err(|e| refused(format!("ssl.key is not valid PEM: {e}")))?;
        let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der.as_slice())
            .map_err(|e| refused(format!("ssl.key is not an encrypted PKCS#8 key: {e}")))?;
        let plain = info.decrypt(passphrase).map_err(|_| {
            refused("ssl.key could not be decrypted: the passphrase is wrong or its cipher is not supported")
        })?;
        return Ok(PrivateKeyDer::Pkcs8(plain.as_bytes().to_vec().into()));
    }
    PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| refused(format!("ssl.key holds no usable PEM private key: {e}")))
}
