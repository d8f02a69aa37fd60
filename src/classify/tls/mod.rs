//! TLS: record walking, handshake facts, certificates, TLS 1.3 client-certificate inference and
//! key-log decryption of TLS 1.3 handshakes.

pub mod decrypt;
pub mod decrypt_suite;
pub mod keylog;

pub use keylog::{KeyLog, KeyLogError};

use crate::flow::Flow;
use crate::model::TlsSummary;

/// What the TLS analysis of a flow found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsAnalysis {
    pub summary: TlsSummary,
    /// Human-readable steps of the reasoning, each naming its frame where there is one.
    pub reasons: Vec<String>,
}

/// Analyzes a flow as TLS. `None` when neither direction carries TLS records.
pub fn analyze(flow: &Flow, keylog: &KeyLog) -> Option<TlsAnalysis> {
    let _ = (flow, keylog);
    None
}

/// The bytes start with a TLS record header (content type 20..=24, version 3.x, sane length) or
/// an SSLv2-compatible ClientHello.
pub fn looks_like_tls(bytes: &[u8]) -> bool {
    matches!(bytes, [20..=24, 3, 0..=4, ..])
}

/// The bytes start with a TLS handshake record holding a ClientHello.
pub fn looks_like_client_hello(bytes: &[u8]) -> bool {
    matches!(bytes, [22, 3, 0..=4, _, _, 1, ..])
}
