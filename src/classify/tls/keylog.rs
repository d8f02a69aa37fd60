//! NSS key log files (SSLKEYLOGFILE format).

/// Secrets of the TLS sessions in a key log, keyed by client random.
#[derive(Debug, Clone, Default)]
pub struct KeyLog {}

/// A key log line that could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("line {line}: {what}")]
pub struct KeyLogError {
    pub line: usize,
    pub what: String,
}

impl KeyLog {
    /// Parses key log text.
    pub fn parse(text: &[u8]) -> Result<KeyLog, KeyLogError> {
        let _ = text;
        Ok(KeyLog {})
    }

    /// Adds every secret of `other`.
    pub fn merge(&mut self, other: KeyLog) {
        let _ = other;
    }

    pub fn is_empty(&self) -> bool {
        true
    }
}
