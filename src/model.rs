//! The report's data model (schema version 1 of the product contract). Classification fills it;
//! the report formats serialize it. Field names are a contract: add fields, never rename them.

use std::sync::Arc;

use serde::{Serialize, Serializer};

mod alert;
mod codes;
mod proof;
mod reasons;

pub use alert::{description_name, level_name, AlertInfo};

pub use proof::{
    Credential, CredentialKind, CrossFlow, DemandBasis, DemandRule, ForwardHeader, Forwarded,
    ForwardedClient, LinkedBy, Resumption, SessionTokens, MAX_CITED_FLOWS,
};
pub use reasons::{said, Code, Reason, ReasonCodes, Reasons, Said};

pub const SCHEMA_VERSION: u32 = 1;

/// The verdict of one flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// TLS, and the client presented a certificate.
    Mtls,
    /// TLS, but no client certificate (or not provable).
    Tls,
    /// Encrypted by a protocol other than TLS, recognised by its bytes (SSH).
    Encrypted,
    /// Application bytes in the clear.
    Plaintext,
    /// High-entropy payload that is not TLS.
    Opaque,
    /// No payload.
    Empty,
}

impl Verdict {
    pub const ALL: [Verdict; 6] = [
        Verdict::Mtls,
        Verdict::Tls,
        Verdict::Encrypted,
        Verdict::Plaintext,
        Verdict::Opaque,
        Verdict::Empty,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Mtls => "mtls",
            Verdict::Tls => "tls",
            Verdict::Encrypted => "encrypted",
            Verdict::Plaintext => "plaintext",
            Verdict::Opaque => "opaque",
            Verdict::Empty => "empty",
        }
    }
}

pub use crate::decode::Transport;

/// How the presence of a certificate is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Evidence {
    /// Seen in the clear (TLS <= 1.2).
    Observed,
    /// Read after decrypting the handshake with a key log.
    Decrypted,
    /// Deduced: from the sizes of encrypted handshake records (TLS 1.3), or, for a resumed or
    /// mid-stream connection, from what the capture proves its server demands
    /// ([`CrossFlow::demand`]).
    Inferred,
    /// Inherited from the handshake that created the session this flow resumes, linked by
    /// session ID, ticket or decrypted PSK identity ([`CrossFlow::resumption`]).
    Resumed,
    /// The server's sidecar forwarded the client's identity to the application on the loopback
    /// leg ([`CrossFlow::forwarded`]).
    Forwarded,
}

impl Evidence {
    /// `observed`, `decrypted`, `inferred`, `resumed` or `forwarded`.
    pub fn name(self) -> &'static str {
        match self {
            Evidence::Observed => "observed",
            Evidence::Decrypted => "decrypted",
            Evidence::Inferred => "inferred",
            Evidence::Resumed => "resumed",
            Evidence::Forwarded => "forwarded",
        }
    }
}

/// How much of the TLS handshake the capture holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HandshakeState {
    /// ClientHello, ServerHello and both Finished (or their encrypted equivalents) seen.
    Complete,
    /// The handshake started but the capture does not show its end.
    Partial,
    /// The handshake was aborted (alert, reset or close before it completed).
    Failed,
    /// The capture starts after the handshake: only TLS records are seen.
    NotCaptured,
}

/// One X.509 certificate, described.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    /// Lowercase hex SHA-256 of the DER encoding.
    pub sha256: String,
    /// Public key, e.g. `RSA 2048` or `EC P-256`.
    pub key: String,
    pub san_uris: Vec<String>,
    pub san_dns: Vec<String>,
    /// The certificate could not be parsed; the other fields are empty except `sha256`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
}

/// What is known about the certificate one side presented.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateSide {
    /// `true` presented, `false` proven absent, `null` unknown.
    pub presented: Option<bool>,
    pub evidence: Option<Evidence>,
    /// Frame of the Certificate message (or of the record that implies it); not serialized
    /// when unknown.
    pub frame: Option<u64>,
    /// Leaf first. Certificates are shared between the flows that present the same one.
    pub chain: Box<[Arc<CertInfo>]>,
    /// What other flows prove about it (client side only; `None` for most flows).
    pub cross: Option<Box<CrossFlow>>,
}

/// How the certificates of a chain are serialized: field by field ([`AsIs`]), or, by a report
/// renderer, copied from one rendering shared by every flow that presents the certificate.
pub(crate) trait WriteCert {
    fn write_cert<S: Serializer>(
        &self,
        cert: &Arc<CertInfo>,
        serializer: S,
    ) -> Result<S::Ok, S::Error>;
}

/// Certificates serialized field by field.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AsIs;

impl WriteCert for AsIs {
    fn write_cert<S: Serializer>(
        &self,
        cert: &Arc<CertInfo>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        cert.serialize(serializer)
    }
}

/// A certificate side whose chain `certs` writes.
struct SideWith<'a, W> {
    side: &'a CertificateSide,
    certs: &'a W,
}

impl<W: WriteCert> Serialize for SideWith<'_, W> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let side = self.side;
        let cross = side.cross.as_deref();
        let fields =
            3 + usize::from(side.frame.is_some()) + cross.map_or(0, CrossFlow::field_count);
        let mut s = serializer.serialize_struct("CertificateSide", fields)?;
        s.serialize_field("presented", &side.presented)?;
        s.serialize_field("evidence", &side.evidence)?;
        match &side.frame {
            Some(frame) => s.serialize_field("frame", frame)?,
            None => s.skip_field("frame")?,
        }
        s.serialize_field("chain", &ChainWith(&side.chain, self.certs))?;
        if let Some(cross) = cross {
            cross.serialize_fields(&mut s)?;
        }
        s.end()
    }
}

struct ChainWith<'a, W>(&'a [Arc<CertInfo>], &'a W);

impl<W: WriteCert> Serialize for ChainWith<'_, W> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|cert| CertWith(cert, self.1)))
    }
}

struct CertWith<'a, W>(&'a Arc<CertInfo>, &'a W);

impl<W: WriteCert> Serialize for CertWith<'_, W> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.1.write_cert(self.0, serializer)
    }
}

impl Serialize for CertificateSide {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SideWith {
            side: self,
            certs: &AsIs,
        }
        .serialize(serializer)
    }
}

/// What a flow's ClientHello and ServerHello said, and the fingerprints of the ClientHello.
///
/// Every connection between the same two client and server stacks says the same, so flows
/// share one copy (see [`TlsSummary::hello`]); the strings inside are shared too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct HelloSummary {
    /// Negotiated version: `1.0`, `1.1`, `1.2`, `1.3`, `ssl3`, `ssl2`, or a draft name.
    pub version: Option<Arc<str>>,
    /// IANA name of the selected cipher suite (or `0xNNNN`).
    pub cipher_suite: Option<Arc<str>>,
    pub sni: Option<Arc<str>>,
    pub alpn_offered: Arc<[Arc<str>]>,
    pub alpn_selected: Option<Arc<str>>,
    /// Versions the client offered (supported_versions, else the ClientHello version).
    pub versions_offered: Arc<[Arc<str>]>,
    /// JA3 of the ClientHello: MD5 (hex) of [`HelloSummary::ja3_full`].
    pub ja3: Option<Arc<str>>,
    /// The JA3 string that `ja3` hashes (`version,ciphers,extensions,groups,point_formats`).
    pub ja3_full: Option<Arc<str>>,
    /// JA4 (client) of the ClientHello.
    pub ja4: Option<Arc<str>>,
    /// JA4 with its cipher and extension lists unhashed (`JA4_r`).
    pub ja4_r: Option<Arc<str>>,
}

/// TLS facts of a flow.
///
/// Every flow keeps these until the report is written, so what repeats from flow to flow (the
/// hellos' facts) is shared; the rest is the flow's own. The JSON object is flat: the hellos'
/// fields sit among the others, in the order of schema version 1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSummary {
    /// Shared with the flows whose hellos said the same; change it through
    /// [`TlsSummary::hello_mut`].
    pub hello: Arc<HelloSummary>,
    pub handshake: Option<HandshakeState>,
    /// The server sent a CertificateRequest (`null`: unknown, e.g. TLS 1.3 without keys).
    pub certificate_requested: Option<bool>,
    pub client_certificate: CertificateSide,
    pub server_certificate: CertificateSide,
    /// The session was resumed (PSK or session id/ticket): no certificates are exchanged.
    pub resumed: Option<bool>,
    pub hello_retry_request: bool,
    pub early_data: bool,
    pub alerts: Box<[AlertInfo]>,
    /// Frame of the ClientHello.
    pub client_hello_frame: Option<u64>,
    /// Cleartext bytes that preceded the TLS handshake (STARTTLS and similar upgrades).
    pub plaintext_prefix_bytes: u64,
    /// The server ended the handshake after the client's flight (a fatal alert, or one
    /// alert-sized encrypted record and a close): it turned the client down. Not serialized:
    /// `handshake: "failed"` and the reasons say so.
    pub server_rejected: bool,
}

impl TlsSummary {
    /// The hellos' facts of this flow alone, to change them (copied first if shared).
    pub fn hello_mut(&mut self) -> &mut HelloSummary {
        Arc::make_mut(&mut self.hello)
    }
}

impl Serialize for TlsSummary {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serialize_using(serializer, &AsIs)
    }
}

impl TlsSummary {
    /// Serializes the flow's TLS object with the certificates of both chains written by `certs`.
    pub(crate) fn serialize_using<S: Serializer, W: WriteCert>(
        &self,
        serializer: S,
        certs: &W,
    ) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let h = &*self.hello;
        let mut s = serializer.serialize_struct("TlsSummary", 20)?;
        s.serialize_field("version", &h.version)?;
        s.serialize_field("handshake", &self.handshake)?;
        s.serialize_field("cipher_suite", &h.cipher_suite)?;
        s.serialize_field("sni", &h.sni)?;
        s.serialize_field("alpn_offered", &h.alpn_offered)?;
        s.serialize_field("alpn_selected", &h.alpn_selected)?;
        s.serialize_field("versions_offered", &h.versions_offered)?;
        s.serialize_field("certificate_requested", &self.certificate_requested)?;
        let side = |side| SideWith { side, certs };
        s.serialize_field("client_certificate", &side(&self.client_certificate))?;
        s.serialize_field("server_certificate", &side(&self.server_certificate))?;
        s.serialize_field("resumed", &self.resumed)?;
        s.serialize_field("hello_retry_request", &self.hello_retry_request)?;
        s.serialize_field("early_data", &self.early_data)?;
        s.serialize_field("ja3", &h.ja3)?;
        s.serialize_field("ja3_full", &h.ja3_full)?;
        s.serialize_field("ja4", &h.ja4)?;
        s.serialize_field("ja4_r", &h.ja4_r)?;
        s.serialize_field("alerts", &self.alerts)?;
        s.serialize_field("client_hello_frame", &self.client_hello_frame)?;
        s.serialize_field("plaintext_prefix_bytes", &self.plaintext_prefix_bytes)?;
        s.end()
    }
}

/// Cleartext application data found in a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlaintextSummary {
    /// `http/1.1`, `http/1.0`, `h2c`, `grpc`, or `unknown`.
    pub protocol: &'static str,
    /// A short, redacted quote: request line, status line, or printable bytes (shared between
    /// the flows that quote the same bytes).
    pub evidence: Arc<str>,
    pub frame: Option<u64>,
    /// `client` or `server`: who sent the quoted bytes.
    pub direction: &'static str,
    /// The server rejected the cleartext request (reset, close without response, TLS alert).
    pub rejected: bool,
    /// The client identity a proxy forwarded in the requests (`x-forwarded-client-cert`,
    /// `l5d-client-id`): on the loopback leg, what the server's sidecar proved of the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded_client: Option<Box<ForwardedClient>>,
}

/// The outcome of classifying one flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub verdict: Verdict,
    /// Why, in sentences that name the frames they rest on.
    pub reasons: Reasons,
    /// Boxed: most flows of a large capture keep only a small result.
    pub tls: Option<Box<TlsSummary>>,
    pub plaintext: Option<Box<PlaintextSummary>>,
    /// The session credentials the handshake showed, until the resumption links are made
    /// (then dropped).
    pub session: Option<Box<SessionTokens>>,
    /// Overlapping segments carried other bytes, and the other copy changes the verdict.
    pub ambiguity: Option<Box<Ambiguity>>,
    /// The protocol other than TLS that encrypts the flow (verdict `encrypted`).
    pub encryption: Option<Box<EncryptionSummary>>,
}

/// A protocol other than TLS that encrypts a flow, and what its handshake showed (the report's
/// `encryption`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EncryptionSummary {
    /// `ssh` or `wireguard`.
    pub protocol: &'static str,
    /// The protocol's version (`2.0`), where the protocol says it.
    pub version: Option<String>,
    /// The software each side names (SSH identification lines), where the protocol says it.
    pub client_software: Option<String>,
    pub server_software: Option<String>,
    /// What the two sides' offers agree on: key exchange, then ciphers each way.
    pub key_exchange: Option<String>,
    pub cipher_client_to_server: Option<String>,
    pub cipher_server_to_client: Option<String>,
    /// The frames from which each side encrypts (after its `NEWKEYS`).
    pub encrypted_from: EncryptedFrom,
}

/// The frames from which each side of a flow encrypts what it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EncryptedFrom {
    pub client: Option<u64>,
    pub server: Option<u64>,
}

/// Which copy of overlapping bytes a reading takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reading {
    /// The bytes that arrived first, as Linux keeps them.
    First,
    /// The bytes that arrived later: the first copies came from segments a receiver drops (a
    /// wrong checksum, or a TTL other than the rest of the direction's).
    Later,
}

/// Two readings of a flow's bytes that give different verdicts, or whose other reading is
/// incomplete: segments overlapped with other bytes. The verdict follows `reading`; the policy
/// judges the flow by the worse of the two, and an incomplete one as a violation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ambiguity {
    /// What makes two readings possible.
    pub cause: AmbiguityCause,
    /// Segments whose bytes overlapped kept bytes with other values (both directions).
    pub conflicts: u32,
    /// The reading the verdict follows.
    pub reading: Reading,
    /// The verdict of the other reading.
    pub other_verdict: Verdict,
    /// Its client certificate answer, when it is TLS.
    pub other_client_certificate: Option<bool>,
    /// A short quote of the other reading (its cleartext, or `TLS`).
    pub other_evidence: Arc<str>,
    /// Frames of the segments whose bytes are in one reading and not in the other (the first
    /// few).
    pub frames: Box<[u64]>,
    /// Conflicting copies whose bytes were not all kept (too many, or too long): the other
    /// reading then lacks them, and the flow is ambiguous whatever the two verdicts.
    pub unread: u32,
}

/// What makes a flow's bytes readable two ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AmbiguityCause {
    /// Overlapping segments carried other bytes.
    Overlap,
    /// A TLS stream's bytes stop being records, and what follows is not readable cleartext.
    NotRecordsAfter,
    /// Text of no known protocol precedes the first TLS record.
    TextBefore,
}

impl AmbiguityCause {
    /// Why the policy fails a flow whose other reading violates the requirement.
    pub fn violation(self) -> &'static str {
        match self {
            AmbiguityCause::Overlap => "ambiguous: violates it read the other way",
            AmbiguityCause::NotRecordsAfter => "ambiguous: not TLS records after some bytes",
            AmbiguityCause::TextBefore => "ambiguous: text before the TLS records",
        }
    }
}
