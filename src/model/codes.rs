//! The stable, machine-readable code of each reason (`reason_codes` in the report, parallel to
//! `reasons`). The sentences may be reworded; the codes are a contract (docs/reason-codes.md
//! lists them, and a test keeps that list in step with this one).

use serde::{Serialize, Serializer};

macro_rules! codes {
    ($( $(#[doc = $doc:literal])* $variant:ident = $name:literal, )*) => {
        /// What a reason says.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub enum Code {
            $( $(#[doc = $doc])* $variant, )*
            /// A reason of no other kind.
            #[default]
            Other,
        }

        impl Code {
            /// Every code, in documentation order.
            pub const ALL: &'static [Code] = &[$( Code::$variant, )* Code::Other];

            /// The code as the report writes it: `tls-client-certificate-seen`.
            pub fn name(self) -> &'static str {
                match self {
                    $( Code::$variant => $name, )*
                    Code::Other => "other",
                }
            }

            /// What the code means, in a sentence (the documentation's).
            pub fn meaning(self) -> &'static str {
                match self {
                    $( Code::$variant => concat!($($doc),*), )*
                    Code::Other => " A reason of no other kind.",
                }
            }
        }
    };
}

codes! {
    /// The flow carried no payload, or only a keep-alive probe.
    NoPayload = "no-payload",
    /// A request or response in cleartext, quoted.
    CleartextSeen = "cleartext-seen",
    /// A credential header sent in cleartext (its value redacted).
    CleartextCredential = "cleartext-credential",
    /// The client asked, in cleartext, to switch to TLS or HTTP/2.
    CleartextUpgrade = "cleartext-upgrade",
    /// The server did not answer, or refused, a cleartext request: it still crossed the wire.
    CleartextUnanswered = "cleartext-unanswered",
    /// The identity a sidecar forwards (x-forwarded-client-cert, l5d-client-id) in cleartext.
    ForwardedIdentity = "forwarded-identity",
    /// Encrypted by a protocol other than TLS, proven by its handshake: both sides of an SSH
    /// session took their new keys.
    Encrypted = "encrypted",
    /// Not TLS and not proven encrypted: an SSH banner without its key exchange, OpenVPN, or
    /// random bytes.
    NotTls = "not-tls",
    /// Bytes of no known protocol that are not random either.
    Unrecognised = "unrecognised",
    /// Cleartext before the TLS handshake: a STARTTLS-style upgrade, or cleartext that is not.
    CleartextBeforeTls = "cleartext-before-tls",
    /// A TLS stream's bytes stop being TLS records: cleartext or other bytes follow, or the
    /// records could not be followed.
    TlsRecordsStop = "tls-records-stop",
    /// The capture holds no ClientHello (or no ServerHello): the handshake is not in it.
    TlsHandshakeNotCaptured = "tls-handshake-not-captured",
    /// How the handshake went: full or resumed, HelloRetryRequest, SSLv2.
    TlsHandshake = "tls-handshake",
    /// The handshake failed: an alert, a close, or bytes that are not TLS.
    TlsHandshakeFailed = "tls-handshake-failed",
    /// The server sent a CertificateRequest, or (decrypted) did not.
    TlsCertificateRequest = "tls-certificate-request",
    /// The client's certificate is seen in the clear (TLS 1.2 and before).
    TlsClientCertificateSeen = "tls-client-certificate-seen",
    /// The client's certificate is read from its flight decrypted with the key log.
    TlsClientCertificateDecrypted = "tls-client-certificate-decrypted",
    /// The client's certificate is inferred from the sizes of its encrypted records (TLS 1.3).
    TlsClientCertificateInferred = "tls-client-certificate-inferred",
    /// The client sent no certificate (an empty Certificate message, or none).
    TlsClientCertificateNone = "tls-client-certificate-none",
    /// Whether the client sent a certificate is unknown, and why.
    TlsClientCertificateUnknown = "tls-client-certificate-unknown",
    /// The server turned the client down after its flight.
    TlsServerRejected = "tls-server-rejected",
    /// 0-RTT early data records, told apart from the handshake flight.
    TlsEarlyData = "tls-early-data",
    /// The key log did not decrypt the records it should have.
    TlsKeylogFailed = "tls-keylog-failed",
    /// A resumed session linked to the full handshake that created it.
    ResumedLinked = "resumed-linked",
    /// A resumed session that could not be linked, and why.
    ResumedNotLinked = "resumed-not-linked",
    /// A client certificate inferred, or not, from what the server demands of its clients.
    ServerDemand = "server-demand",
    /// The identity the server's sidecar forwarded proves the client's certificate, or not.
    ForwardedProof = "forwarded-proof",
    /// The bytes came on the addresses and ports of an earlier flow, after its end.
    Reopened = "reopened",
    /// RST or FIN segments a receiver drops did not end the connection.
    IgnoredControl = "ignored-control",
    /// Wrong TCP checksums: checksum offload, or segments a receiver drops.
    Checksums = "checksums",
    /// One direction's segments arrived with two TTLs where bytes conflicted.
    TwoTtls = "two-ttls",
    /// Overlapping segments carried other bytes: which reading is taken.
    Overlap = "overlap",
    /// The flow can be read two ways with different verdicts; the policy judges the worse.
    Ambiguous = "ambiguous",
}

impl Code {
    /// Its position in [`Code::ALL`].
    pub fn index(self) -> u32 {
        Code::ALL
            .iter()
            .position(|&c| c == self)
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or(0)
    }

    /// The code at `index` of [`Code::ALL`].
    pub fn from_index(index: u32) -> Option<Code> {
        Code::ALL.get(usize::try_from(index).ok()?).copied()
    }

    /// The character that stands for the code at the front of a packed reason: its index + 1,
    /// never a digit nor NUL.
    pub(crate) fn mark(self) -> char {
        char::from_u32(self.index() + 1).unwrap_or('\u{1}')
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documentation_lists_every_code_with_its_meaning() {
        let doc = include_str!("../../docs/reason-codes.md");
        for &code in Code::ALL {
            let row = format!("| `{}` |", code.name());
            assert!(doc.contains(&row), "docs/reason-codes.md lacks {row}");
            assert!(
                doc.contains(code.meaning().trim()),
                "docs/reason-codes.md: {} should say {:?}",
                code.name(),
                code.meaning().trim()
            );
        }
        // marks stay below the digits and are never NUL
        for &code in Code::ALL {
            assert!((code.mark() as u32) > 0 && (code.mark() as u32) < u32::from(b'0'));
            assert_eq!(Code::from_index(code.index()), Some(code));
        }
    }
}
