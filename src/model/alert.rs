//! TLS alerts as a flow keeps them: 24 bytes each (every TLS flow keeps its alerts until the
//! report is written), named when they are displayed or serialized.

use std::sync::OnceLock;

use serde::ser::{Serialize, SerializeStruct, Serializer};
use tls_parser::{TlsAlertDescription, TlsAlertSeverity};

/// A TLS alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertInfo {
    pub frame: Option<u64>,
    /// Sent by the server (else by the client).
    pub from_server: bool,
    /// Level and description codes of an alert sent in the clear; `None` when encryption hid
    /// them (TLS 1.3, or after ChangeCipherSpec) and only the record's shape showed it.
    pub codes: Option<(u8, u8)>,
}

impl AlertInfo {
    /// `client` or `server`.
    pub fn from(&self) -> &'static str {
        if self.from_server {
            "server"
        } else {
            "client"
        }
    }

    /// `fatal`/`warning` (or `level(N)`), or `encrypted` when hidden.
    pub fn level(&self) -> &'static str {
        self.codes
            .map_or("encrypted", |(level, _)| level_name(level))
    }

    /// The description's IANA name, or `unknown` when hidden.
    pub fn description(&self) -> &'static str {
        self.codes
            .map_or("unknown", |(_, code)| description_name(code))
    }
}

impl Serialize for AlertInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("AlertInfo", 4)?;
        s.serialize_field("from", self.from())?;
        s.serialize_field("frame", &self.frame)?;
        s.serialize_field("level", self.level())?;
        s.serialize_field("description", self.description())?;
        s.end()
    }
}

/// The IANA name of an alert description (`handshake_failure`), or `unknown(N)`.
pub fn description_name(code: u8) -> &'static str {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    let names = NAMES.get_or_init(|| (0..=u8::MAX).map(describe).collect());
    names
        .get(usize::from(code))
        .map_or("unknown", String::as_str)
}

/// `handshake_failure` from tls-parser's `HandshakeFailure`.
fn describe(code: u8) -> String {
    let camel = TlsAlertDescription(code).to_string();
    if camel.contains('(') {
        return format!("unknown({code})");
    }
    let mut out = String::with_capacity(camel.len().saturating_add(4));
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// `warning`, `fatal`, or `level(N)`.
pub fn level_name(level: u8) -> &'static str {
    static OTHERS: OnceLock<Vec<String>> = OnceLock::new();
    match TlsAlertSeverity(level) {
        TlsAlertSeverity::Warning => "warning",
        TlsAlertSeverity::Fatal => "fatal",
        _ => OTHERS
            .get_or_init(|| (0..=u8::MAX).map(|l| format!("level({l})")).collect())
            .get(usize::from(level))
            .map_or("level", String::as_str),
    }
}
