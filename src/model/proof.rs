//! What other flows of the capture prove about a flow's client certificate: the session it
//! resumes ([`Resumption`]), what its server is seen to demand of every client ([`DemandBasis`]),
//! and the identity the server's sidecar forwarded to the application ([`Forwarded`]).
//!
//! A flow's own handshake gives the `observed`, `decrypted` and record-size `inferred` answers;
//! these are the answers for the connections whose handshake does not show the certificate: a
//! resumed session, or a pooled connection whose handshake predates the capture.

use std::net::IpAddr;
use std::sync::Arc;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

/// How a resumed session was tied to the handshake that issued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkedBy {
    /// TLS <= 1.2: the ServerHello echoed a session ID that an earlier ServerHello assigned.
    SessionId,
    /// TLS <= 1.2: the client offered a ticket that an earlier NewSessionTicket carried.
    SessionTicket,
    /// TLS 1.3: the PSK identity the server selected is the ticket of a NewSessionTicket that
    /// the key log decrypted.
    PskIdentity,
}

impl LinkedBy {
    /// The credential in words.
    pub fn text(self) -> &'static str {
        match self {
            LinkedBy::SessionId => "session ID",
            LinkedBy::SessionTicket => "session ticket",
            LinkedBy::PskIdentity => "PSK identity",
        }
    }
}

/// The session a flow resumes, found by its credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumption {
    /// Id of the flow whose full handshake created the session (`resumed_from`).
    pub root: u64,
    pub by: LinkedBy,
    /// Id of the flow whose server issued the credential: the root, or a flow that itself
    /// resumed the session and was given a new ticket.
    pub issued_by: u64,
    /// Frame of the ServerHello or NewSessionTicket that issued it.
    pub issued_frame: Option<u64>,
    /// Frame of this flow's ClientHello, which offered it.
    pub offered_frame: Option<u64>,
}

/// Which observation proves that a server demands client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DemandRule {
    /// It ended the handshake of a client that sent no certificate (alert, or close right
    /// after the client's flight).
    RejectedWithoutCertificate,
    /// Every full handshake to it that completed carried a CertificateRequest, and a client
    /// certificate.
    CertificateRequestedInEveryFullHandshake,
}

impl DemandRule {
    pub fn name(self) -> &'static str {
        match self {
            DemandRule::RejectedWithoutCertificate => "rejected-without-certificate",
            DemandRule::CertificateRequestedInEveryFullHandshake => {
                "certificate-requested-in-every-full-handshake"
            }
        }
    }
}

/// Most flow ids a basis cites; the counts say how many there were.
pub const MAX_CITED_FLOWS: usize = 16;

/// What the capture shows a server endpoint demands, on which an inferred client certificate
/// of a resumed or mid-stream flow rests. Shared by every flow inferred from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemandBasis {
    pub rule: DemandRule,
    pub server_ip: IpAddr,
    pub server_port: u16,
    /// The SNI the considered handshakes had to agree with (`None`: any).
    pub sni: Option<Arc<str>>,
    /// Full handshakes to the endpoint that were considered (completed or rejected).
    pub full_handshakes: u64,
    /// Of those, completed with a client certificate.
    pub with_certificate: u64,
    /// Of those, rejections of a client that sent no certificate.
    pub rejected_without_certificate: u64,
    /// Ids of the considered flows, first seen first, at most [`MAX_CITED_FLOWS`].
    pub flows: Box<[u64]>,
}

/// The header a sidecar forwards the client identity in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ForwardHeader {
    /// Envoy (Istio): `x-forwarded-client-cert: By=…;Hash=…;URI=spiffe://…`.
    #[serde(rename = "x-forwarded-client-cert")]
    Xfcc,
    /// Linkerd's inbound proxy: `l5d-client-id: NAME`.
    #[serde(rename = "l5d-client-id")]
    L5dClientId,
}

impl ForwardHeader {
    pub fn name(self) -> &'static str {
        match self {
            ForwardHeader::Xfcc => "x-forwarded-client-cert",
            ForwardHeader::L5dClientId => "l5d-client-id",
        }
    }
}

/// The client identity a proxy forwarded in cleartext requests (on the loopback leg: the
/// server's sidecar to the application). It carries no secret and is never redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForwardedClient {
    pub header: ForwardHeader,
    /// The client's identity: the URI (else DNS) of the last XFCC element, which the nearest
    /// proxy appended, or the `l5d-client-id` value.
    pub identity: Arc<str>,
    /// XFCC `By`: the identity of the proxy that forwarded it.
    pub by: Option<Arc<str>>,
    /// Frame of the first request that carries it.
    pub frame: Option<u64>,
    /// Requests seen with the header.
    pub requests: u32,
    /// Distinct identities among those requests: a pooled connection to the application may
    /// carry the requests of several clients, and then none of them proves one network flow.
    pub identities: u32,
}

/// The identity the server's sidecar forwarded for a network flow, from its loopback leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    pub header: ForwardHeader,
    pub identity: Arc<str>,
    pub by: Option<Arc<str>>,
    /// Id of the loopback flow that carries the forwarded request.
    pub flow: u64,
    pub frame: Option<u64>,
}

/// Everything other flows prove about a flow's client certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrossFlow {
    pub resumption: Option<Resumption>,
    pub demand: Option<Arc<DemandBasis>>,
    pub forwarded: Option<Forwarded>,
}

impl CrossFlow {
    /// The JSON fields of a certificate side that this adds (after its own fields).
    pub(crate) fn field_count(&self) -> usize {
        2 * usize::from(self.resumption.is_some())
            + usize::from(self.demand.is_some())
            + 2 * usize::from(self.forwarded.is_some())
    }

    /// Writes the fields into a certificate side's JSON object.
    pub(crate) fn serialize_fields<S: SerializeStruct>(&self, s: &mut S) -> Result<(), S::Error> {
        if let Some(r) = &self.resumption {
            s.serialize_field("resumed_from", &r.root)?;
            s.serialize_field("resumption", &ResumptionDoc(r))?;
        }
        if let Some(d) = &self.demand {
            s.serialize_field("basis", &BasisDoc(d))?;
        }
        if let Some(f) = &self.forwarded {
            s.serialize_field("forwarded_identity", &f.identity)?;
            s.serialize_field("forwarded", &ForwardedDoc(f))?;
        }
        Ok(())
    }
}

struct ResumptionDoc<'a>(&'a Resumption);

impl Serialize for ResumptionDoc<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut s = serializer.serialize_struct("Resumption", 4)?;
        s.serialize_field("linked_by", &r.by)?;
        s.serialize_field("issued_by_flow", &r.issued_by)?;
        s.serialize_field("issued_frame", &r.issued_frame)?;
        s.serialize_field("offered_frame", &r.offered_frame)?;
        s.end()
    }
}

struct BasisDoc<'a>(&'a DemandBasis);

impl Serialize for BasisDoc<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let b = self.0;
        let mut s = serializer.serialize_struct("DemandBasis", 8)?;
        s.serialize_field("rule", &b.rule)?;
        s.serialize_field("server", &ServerDoc(b.server_ip, b.server_port))?;
        s.serialize_field("sni", &b.sni)?;
        s.serialize_field("full_handshakes", &b.full_handshakes)?;
        s.serialize_field("with_certificate", &b.with_certificate)?;
        s.serialize_field(
            "rejected_without_certificate",
            &b.rejected_without_certificate,
        )?;
        s.serialize_field("flows", &b.flows)?;
        s.end()
    }
}

struct ServerDoc(IpAddr, u16);

impl Serialize for ServerDoc {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Server", 2)?;
        s.serialize_field("ip", &self.0)?;
        s.serialize_field("port", &self.1)?;
        s.end()
    }
}

struct ForwardedDoc<'a>(&'a Forwarded);

impl Serialize for ForwardedDoc<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let f = self.0;
        let mut s = serializer.serialize_struct("Forwarded", 4)?;
        s.serialize_field("header", &f.header)?;
        s.serialize_field("by", &f.by)?;
        s.serialize_field("flow", &f.flow)?;
        s.serialize_field("frame", &f.frame)?;
        s.end()
    }
}

/// A session credential as the capture showed it: its kind and a digest of its bytes (SHA-256,
/// cut to 128 bits: tickets run to hundreds of bytes, and only equality matters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Credential {
    /// `SessionId`, or `SessionTicket` for a TLS <= 1.2 ticket and a TLS 1.3 ticket (PSK
    /// identity) alike.
    pub kind: CredentialKind,
    pub digest: [u8; 16],
}

/// What a credential names a session by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CredentialKind {
    SessionId,
    Ticket,
}

impl Credential {
    /// The credential of `kind` made of `bytes`.
    pub fn new(kind: CredentialKind, bytes: &[u8]) -> Credential {
        use sha2::{Digest, Sha256};
        let full = Sha256::new()
            .chain_update([kind as u8])
            .chain_update(bytes)
            .finalize();
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&full[..16]);
        Credential { kind, digest }
    }
}

/// The session credentials one flow's handshake shows: what the server issued for later
/// resumption, and, when the server accepted a resumption, what the client offered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionTokens {
    /// Offered by the client of a resumed handshake, strongest first (a ticket before a
    /// session ID), each with how it links.
    pub offered: Vec<(Credential, LinkedBy)>,
    /// Issued by the server: a session ID in its ServerHello, tickets in NewSessionTicket
    /// messages (TLS 1.3: decrypted with the key log), each with its frame.
    pub issued: Vec<(Credential, Option<u64>)>,
}

impl SessionTokens {
    pub fn is_empty(&self) -> bool {
        self.offered.is_empty() && self.issued.is_empty()
    }
}
