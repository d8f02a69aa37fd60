//! TLS 1.3 cipher suites: traffic key derivation (RFC 8446 §7.1, §7.3) and record protection
//! (§5.2, §5.3), built on the RustCrypto HKDF and AEAD crates.

use aes::Aes128;
use aes_gcm::aead::consts::{U12, U16, U8};
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use ccm::Ccm;
use chacha20poly1305::ChaCha20Poly1305;
use hkdf::Hkdf;
use sha2::{Sha256, Sha384};

use super::decrypt::DecryptError;

/// Length of every TLS 1.3 AEAD nonce (and so of the traffic IV).
const IV_LEN: usize = 12;

/// The hash of a TLS 1.3 cipher suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
}

impl Hash {
    fn len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
        }
    }
}

/// The record protection algorithm of a TLS 1.3 cipher suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
    Aes128Ccm,
    Aes128Ccm8,
}

impl Algorithm {
    fn key_len(self) -> usize {
        match self {
            Algorithm::Aes128Gcm | Algorithm::Aes128Ccm | Algorithm::Aes128Ccm8 => 16,
            Algorithm::Aes256Gcm | Algorithm::ChaCha20Poly1305 => 32,
        }
    }
}

/// The two halves of a TLS 1.3 cipher suite (RFC 8446 appendix B.4).
fn suite(id: u16) -> Option<(Algorithm, Hash)> {
    Some(match id {
        0x1301 => (Algorithm::Aes128Gcm, Hash::Sha256),
        0x1302 => (Algorithm::Aes256Gcm, Hash::Sha384),
        0x1303 => (Algorithm::ChaCha20Poly1305, Hash::Sha256),
        0x1304 => (Algorithm::Aes128Ccm, Hash::Sha256),
        0x1305 => (Algorithm::Aes128Ccm8, Hash::Sha256),
        _ => return None,
    })
}

/// AES-128-CCM with a 16-byte tag and the 12-byte TLS nonce.
type Aes128Ccm = Ccm<Aes128, U16, U12>;
/// AES-128-CCM with an 8-byte tag and the 12-byte TLS nonce.
type Aes128Ccm8 = Ccm<Aes128, U8, U12>;

/// A keyed AEAD.
enum Cipher {
    Aes128Gcm(Box<Aes128Gcm>),
    Aes256Gcm(Box<Aes256Gcm>),
    ChaCha20Poly1305(Box<ChaCha20Poly1305>),
    Aes128Ccm(Box<Aes128Ccm>),
    Aes128Ccm8(Box<Aes128Ccm8>),
}

impl Cipher {
    fn new(algorithm: Algorithm, key: &[u8]) -> Result<Cipher, DecryptError> {
        fn keyed<C: KeyInit>(key: &[u8]) -> Result<Box<C>, DecryptError> {
            C::new_from_slice(key)
                .map(Box::new)
                .map_err(|_| DecryptError::BadSecret)
        }
        Ok(match algorithm {
            Algorithm::Aes128Gcm => Cipher::Aes128Gcm(keyed(key)?),
            Algorithm::Aes256Gcm => Cipher::Aes256Gcm(keyed(key)?),
            Algorithm::ChaCha20Poly1305 => Cipher::ChaCha20Poly1305(keyed(key)?),
            Algorithm::Aes128Ccm => Cipher::Aes128Ccm(keyed(key)?),
            Algorithm::Aes128Ccm8 => Cipher::Aes128Ccm8(keyed(key)?),
        })
    }

    /// Decrypts `buffer` (ciphertext then tag) in place; `false` when it does not authenticate.
    fn open(&self, nonce: &[u8; IV_LEN], aad: &[u8], buffer: &mut Vec<u8>) -> bool {
        fn open_with<C: AeadInOut>(
            cipher: &C,
            nonce: &[u8; IV_LEN],
            aad: &[u8],
            buffer: &mut Vec<u8>,
        ) -> bool {
            match Nonce::<C>::try_from(&nonce[..]) {
                Ok(nonce) => cipher.decrypt_in_place(&nonce, aad, buffer).is_ok(),
                Err(_) => false,
            }
        }
        match self {
            Cipher::Aes128Gcm(c) => open_with(c.as_ref(), nonce, aad, buffer),
            Cipher::Aes256Gcm(c) => open_with(c.as_ref(), nonce, aad, buffer),
            Cipher::ChaCha20Poly1305(c) => open_with(c.as_ref(), nonce, aad, buffer),
            Cipher::Aes128Ccm(c) => open_with(c.as_ref(), nonce, aad, buffer),
            Cipher::Aes128Ccm8(c) => open_with(c.as_ref(), nonce, aad, buffer),
        }
    }
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Cipher::Aes128Gcm(_) => "AES-128-GCM",
            Cipher::Aes256Gcm(_) => "AES-256-GCM",
            Cipher::ChaCha20Poly1305(_) => "ChaCha20-Poly1305",
            Cipher::Aes128Ccm(_) => "AES-128-CCM",
            Cipher::Aes128Ccm8(_) => "AES-128-CCM-8",
        };
        f.write_str(name)
    }
}

/// HKDF-Extract(salt, ikm) with SHA-256 (RFC 5869): QUIC's initial secret (RFC 9001 §5.2).
pub(crate) fn extract_sha256(salt: &[u8], ikm: &[u8]) -> [u8; 32] {
    let (prk, _) = Hkdf::<Sha256>::extract(Some(salt), ikm);
    let mut out = [0u8; 32];
    out.copy_from_slice(&prk);
    out
}

/// HKDF-Expand-Label with SHA-256 (see [`expand_label`]), `None` when it cannot be computed.
pub(crate) fn expand_label_sha256(secret: &[u8], label: &[u8], out: &mut [u8]) -> Option<()> {
    expand_label(Hash::Sha256, secret, label, out).ok()
}

/// HKDF-Expand-Label(secret, label, "", out.len()) of RFC 8446 §7.1.
fn expand_label(
    hash: Hash,
    secret: &[u8],
    label: &[u8],
    out: &mut [u8],
) -> Result<(), DecryptError> {
    const PREFIX: &[u8] = b"tls13 ";
    let length = u16::try_from(out.len()).map_err(|_| DecryptError::BadSecret)?;
    let label_len = PREFIX
        .len()
        .checked_add(label.len())
        .and_then(|n| u8::try_from(n).ok())
        .ok_or(DecryptError::BadSecret)?;
    let length = length.to_be_bytes();
    // HkdfLabel: uint16 length, opaque label<7..255>, opaque context<0..255> (empty).
    let info: [&[u8]; 5] = [&length, &[label_len], PREFIX, label, &[0]];
    match hash {
        Hash::Sha256 => Hkdf::<Sha256>::from_prk(secret)
            .map_err(|_| DecryptError::BadSecret)?
            .expand_multi_info(&info, out),
        Hash::Sha384 => Hkdf::<Sha384>::from_prk(secret)
            .map_err(|_| DecryptError::BadSecret)?
            .expand_multi_info(&info, out),
    }
    .map_err(|_| DecryptError::BadSecret)
}

/// Record protection keys for one direction: the AEAD keyed with the traffic key, and the IV.
#[derive(Debug)]
pub(crate) struct RecordKeys {
    cipher: Cipher,
    iv: [u8; IV_LEN],
}

impl RecordKeys {
    /// Derives the write key and IV of a traffic secret (RFC 8446 §7.3). The secret must be as
    /// long as the suite's hash.
    pub(crate) fn from_secret(cipher_suite: u16, secret: &[u8]) -> Result<Self, DecryptError> {
        let (algorithm, hash) =
            suite(cipher_suite).ok_or(DecryptError::UnsupportedSuite(cipher_suite))?;
        if secret.len() != hash.len() {
            return Err(DecryptError::BadSecret);
        }
        let mut key = [0u8; 32];
        let key = key
            .get_mut(..algorithm.key_len())
            .ok_or(DecryptError::BadSecret)?;
        expand_label(hash, secret, b"key", key)?;
        let mut iv = [0u8; IV_LEN];
        expand_label(hash, secret, b"iv", &mut iv)?;
        Ok(RecordKeys {
            cipher: Cipher::new(algorithm, key)?,
            iv,
        })
    }

    /// Opens the record with sequence number `seq`: `header` (the 5-byte record header) is the
    /// additional data, `body` the ciphertext and tag. Returns the TLSInnerPlaintext, or `None`
    /// when the record does not authenticate under these keys.
    pub(crate) fn open(&self, seq: u64, header: &[u8], body: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = self.iv;
        // The 64-bit sequence number, left-padded to 12 bytes, XORed into the IV (§5.3).
        for (n, s) in nonce.iter_mut().skip(IV_LEN - 8).zip(seq.to_be_bytes()) {
            *n ^= s;
        }
        let mut buffer = body.to_vec();
        self.cipher
            .open(&nonce, header, &mut buffer)
            .then_some(buffer)
    }

    /// The IV, for tests against published values.
    #[cfg(test)]
    fn iv(&self) -> &[u8; IV_LEN] {
        &self.iv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap()
    }

    #[test]
    fn derives_rfc8448_server_handshake_key_and_iv() {
        // RFC 8448 §3, "{server} derive write traffic keys for handshake data".
        let secret = hex("b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4
                          e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38");
        let mut key = [0u8; 16];
        expand_label(Hash::Sha256, &secret, b"key", &mut key).unwrap();
        assert_eq!(
            key.to_vec(),
            hex("3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc")
        );
        let keys = RecordKeys::from_secret(0x1301, &secret).unwrap();
        assert_eq!(
            keys.iv().to_vec(),
            hex("5d 31 3e b2 67 12 76 ee 13 00 0b 30")
        );
    }

    #[test]
    fn refuses_unknown_suites_and_secrets_of_the_wrong_length() {
        assert_eq!(
            RecordKeys::from_secret(0xc02f, &[0; 32]).unwrap_err(),
            DecryptError::UnsupportedSuite(0xc02f)
        );
        assert_eq!(
            RecordKeys::from_secret(0x1302, &[0; 32]).unwrap_err(),
            DecryptError::BadSecret
        );
        assert_eq!(
            RecordKeys::from_secret(0x1301, &[0; 48]).unwrap_err(),
            DecryptError::BadSecret
        );
        assert_eq!(
            RecordKeys::from_secret(0x1303, &[]).unwrap_err(),
            DecryptError::BadSecret
        );
        for id in 0x1301..=0x1305u16 {
            let len = if id == 0x1302 { 48 } else { 32 };
            assert!(
                RecordKeys::from_secret(id, &vec![7; len]).is_ok(),
                "{id:#x}"
            );
        }
    }

    #[test]
    fn short_or_forged_bodies_do_not_open() {
        let keys = RecordKeys::from_secret(0x1305, &[1; 32]).unwrap();
        let header = [23, 3, 3, 0, 0];
        assert_eq!(keys.open(0, &header, &[]), None);
        assert_eq!(keys.open(0, &header, &[0; 7]), None);
        assert_eq!(keys.open(0, &header, &[0; 8]), None);
        assert_eq!(keys.open(u64::MAX, &header, &[0; 40]), None);
    }
}
