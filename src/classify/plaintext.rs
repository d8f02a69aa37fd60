//! Cleartext protocols: HTTP/1.x requests and responses, HTTP/2 cleartext (h2c), gRPC without TLS,
//! other printable payloads; quoted with credentials redacted.

use crate::flow::Flow;
use crate::model::PlaintextSummary;

/// Finds cleartext application data in either direction of `flow` (`a` is the client).
pub fn detect(flow: &Flow) -> Option<PlaintextSummary> {
    let _ = flow;
    None
}

/// The bytes start like a client's cleartext request (HTTP method, h2c preface).
pub fn looks_like_request(bytes: &[u8]) -> bool {
    let _ = bytes;
    false
}
