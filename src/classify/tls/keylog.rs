//! NSS key log files (SSLKEYLOGFILE format).
//!
//! Each line is `LABEL <client_random> <secret>`: the label names the secret, the client random
//! (64 hex digits, the 32 bytes of the ClientHello random) names the TLS session, and the secret
//! is hex. Lines starting with `#` and blank lines are skipped; CRLF line ends are accepted.
//!
//! Labels read: the TLS 1.3 traffic secrets (`CLIENT_HANDSHAKE_TRAFFIC_SECRET`,
//! `SERVER_HANDSHAKE_TRAFFIC_SECRET`, `CLIENT_TRAFFIC_SECRET_0`, `SERVER_TRAFFIC_SECRET_0`,
//! `CLIENT_EARLY_TRAFFIC_SECRET`) and the TLS 1.2 master secret (`CLIENT_RANDOM`). The exporter
//! secrets (`EXPORTER_SECRET`, `EARLY_EXPORTER_SECRET`) are checked but not kept; `RSA` lines and
//! labels this version does not know are accepted and ignored, so newer key logs still load.
//!
//! Limits, so that a hostile key log cannot exhaust memory: at most [`MAX_SESSIONS`] sessions and
//! lines of at most [`MAX_LINE_LEN`] bytes. Going over either is never silent: parsing fails on
//! (or, leniently, lists) the line, [`KeyLog::from_file`] names it, and [`KeyLog::merge`] counts
//! the sessions it had to drop ([`KeyLog::dropped_sessions`], [`KeyLog::limit_warning`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Most sessions (distinct client randoms) a key log may hold. About 1 KiB of memory each at
/// worst, so the bound keeps a key log under roughly 1 GiB in memory.
pub const MAX_SESSIONS: usize = 1_000_000;

/// Longest line accepted, in bytes (CR/LF excluded). A real line is under 200 bytes.
pub const MAX_LINE_LEN: usize = 1024;

/// Most errors [`KeyLog::parse_lenient`] lists one by one; later ones are summed up in one last
/// error.
pub const MAX_LISTED_ERRORS: usize = 100;

/// The secrets a key log holds for one TLS session. Each is `None` when no line gave it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionSecrets {
    /// `CLIENT_HANDSHAKE_TRAFFIC_SECRET` (TLS 1.3).
    pub client_handshake: Option<Vec<u8>>,
    /// `SERVER_HANDSHAKE_TRAFFIC_SECRET` (TLS 1.3).
    pub server_handshake: Option<Vec<u8>>,
    /// `CLIENT_TRAFFIC_SECRET_0` (TLS 1.3).
    pub client_traffic_0: Option<Vec<u8>>,
    /// `SERVER_TRAFFIC_SECRET_0` (TLS 1.3).
    pub server_traffic_0: Option<Vec<u8>>,
    /// `CLIENT_EARLY_TRAFFIC_SECRET` (TLS 1.3 0-RTT).
    pub client_early: Option<Vec<u8>>,
    /// `CLIENT_RANDOM`: the 48-byte TLS 1.2 (and earlier) master secret.
    pub master_secret: Option<Vec<u8>>,
}

impl SessionSecrets {
    /// Takes every secret `other` has, keeping ours where `other` has none.
    fn absorb(&mut self, other: SessionSecrets) {
        let SessionSecrets {
            client_handshake,
            server_handshake,
            client_traffic_0,
            server_traffic_0,
            client_early,
            master_secret,
        } = other;
        fill(&mut self.client_handshake, client_handshake);
        fill(&mut self.server_handshake, server_handshake);
        fill(&mut self.client_traffic_0, client_traffic_0);
        fill(&mut self.server_traffic_0, server_traffic_0);
        fill(&mut self.client_early, client_early);
        fill(&mut self.master_secret, master_secret);
    }
}

fn fill(slot: &mut Option<Vec<u8>>, value: Option<Vec<u8>>) {
    if value.is_some() {
        *slot = value;
    }
}

/// Secrets of the TLS sessions in a key log, keyed by client random.
#[derive(Debug, Clone, Default)]
pub struct KeyLog {
    sessions: HashMap<[u8; 32], SessionSecrets>,
    /// Sessions [`KeyLog::merge`] dropped because the log was full.
    dropped: u64,
}

/// A key log line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}")]
pub struct KeyLogError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with the line.
    pub what: String,
}

/// A key log file that could not be loaded. The message says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyLogFileError {
    /// The file does not exist.
    #[error(
        "key log {} not found: give the file the TLS library wrote (SSLKEYLOGFILE)",
        path.display()
    )]
    NotFound { path: PathBuf },
    /// The file exists but could not be read.
    #[error("cannot read key log {}: {source}; check its permissions", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A line is not a key log line.
    #[error(
        "key log {}: {error}; fix or delete that line (format: LABEL CLIENT_RANDOM SECRET)",
        path.display()
    )]
    Malformed { path: PathBuf, error: KeyLogError },
    /// The file names more sessions than a key log may hold ([`MAX_SESSIONS`]); `line` is the
    /// first line of a session over the limit.
    #[error(
        "key log {}: line {line}: more than {max} sessions; keep only the sessions of the \
         captures analysed (e.g. grep their client randoms)",
        path.display()
    )]
    TooManySessions {
        path: PathBuf,
        /// 1-based number of the first line over the limit.
        line: usize,
        /// The limit.
        max: usize,
    },
}

impl KeyLog {
    /// Parses key log text, failing on the first malformed line.
    pub fn parse(text: &[u8]) -> Result<KeyLog, KeyLogError> {
        let mut log = KeyLog::default();
        for (line_no, line) in lines(text) {
            log.add_line(line_no, line)?;
        }
        Ok(log)
    }

    /// Parses key log text, skipping malformed lines and returning them as errors. Meant for key
    /// logs embedded in a capture (pcapng Decryption Secrets Blocks), where one bad line should
    /// not cost the other secrets. At most [`MAX_LISTED_ERRORS`] errors are listed, then one
    /// error counts the rest.
    pub fn parse_lenient(text: &[u8]) -> (KeyLog, Vec<KeyLogError>) {
        let mut log = KeyLog::default();
        let mut errors = Vec::new();
        let mut unlisted = 0usize;
        let mut first_unlisted = 0usize;
        for (line_no, line) in lines(text) {
            if let Err(error) = log.add_line(line_no, line) {
                if errors.len() < MAX_LISTED_ERRORS {
                    errors.push(error);
                } else {
                    if unlisted == 0 {
                        first_unlisted = line_no;
                    }
                    unlisted = unlisted.saturating_add(1);
                }
            }
        }
        if unlisted > 0 {
            errors.push(KeyLogError {
                line: first_unlisted,
                what: format!("{unlisted} more malformed lines from here on"),
            });
        }
        (log, errors)
    }

    /// Loads a key log file, failing on the first malformed line. The file is read line by line,
    /// so its size is not limited, only its number of sessions.
    pub fn from_file(path: &Path) -> Result<KeyLog, KeyLogFileError> {
        Self::from_file_within(path, MAX_SESSIONS)
    }

    /// [`Self::from_file`] with the session bound as a parameter.
    fn from_file_within(path: &Path, max_sessions: usize) -> Result<KeyLog, KeyLogFileError> {
        let file = File::open(path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => KeyLogFileError::NotFound {
                path: path.to_path_buf(),
            },
            _ => KeyLogFileError::Read {
                path: path.to_path_buf(),
                source,
            },
        })?;
        let reader = BufReader::new(file);
        Self::from_reader_within(reader, max_sessions).map_err(|error| match error {
            ReadError::Io(source) => KeyLogFileError::Read {
                path: path.to_path_buf(),
                source,
            },
            ReadError::Line(error) => KeyLogFileError::Malformed {
                path: path.to_path_buf(),
                error,
            },
            ReadError::Full { line } => KeyLogFileError::TooManySessions {
                path: path.to_path_buf(),
                line,
                max: max_sessions,
            },
        })
    }

    /// Reads lines one at a time, never holding more than [`MAX_LINE_LEN`] + 2 bytes of a line.
    #[cfg(test)]
    fn from_reader<R: BufRead>(reader: R) -> Result<KeyLog, ReadError> {
        Self::from_reader_within(reader, MAX_SESSIONS)
    }

    /// [`Self::from_reader`] with the session bound as a parameter.
    fn from_reader_within<R: BufRead>(
        mut reader: R,
        max_sessions: usize,
    ) -> Result<KeyLog, ReadError> {
        let mut log = KeyLog::default();
        let mut buf = Vec::with_capacity(256);
        let mut line_no = 0usize;
        let limit = u64::try_from(MAX_LINE_LEN)
            .unwrap_or(u64::MAX)
            .saturating_add(2);
        loop {
            buf.clear();
            let read = (&mut reader)
                .take(limit)
                .read_until(b'\n', &mut buf)
                .map_err(ReadError::Io)?;
            if read == 0 {
                return Ok(log);
            }
            line_no = line_no.saturating_add(1);
            let ended = buf.last() == Some(&b'\n');
            let line = trim_line_end(&buf);
            if !ended && line.len() > MAX_LINE_LEN {
                return Err(ReadError::Line(too_long(line_no)));
            }
            log.add_line_within(line_no, line, max_sessions)
                .map_err(|e| match e {
                    LineError::Bad(e) => ReadError::Line(e),
                    LineError::Full(e) => ReadError::Full { line: e.line },
                })?;
        }
    }

    /// The secrets of the session with this client random.
    pub fn get(&self, client_random: &[u8; 32]) -> Option<&SessionSecrets> {
        self.sessions.get(client_random)
    }

    /// Adds every secret of `other`; where both have a secret, `other`'s wins. New sessions
    /// beyond [`MAX_SESSIONS`] are dropped and counted: returns how many this call dropped, and
    /// [`Self::dropped_sessions`] / [`Self::limit_warning`] give the total (including what
    /// `other` had dropped itself).
    pub fn merge(&mut self, other: KeyLog) -> u64 {
        self.merge_within(other, MAX_SESSIONS)
    }

    /// [`Self::merge`] with the session bound as a parameter.
    fn merge_within(&mut self, other: KeyLog, max_sessions: usize) -> u64 {
        let mut dropped = 0u64;
        for (random, secrets) in other.sessions {
            if let Some(mine) = self.sessions.get_mut(&random) {
                mine.absorb(secrets);
            } else if self.sessions.len() < max_sessions {
                self.sessions.insert(random, secrets);
            } else {
                dropped = dropped.saturating_add(1);
            }
        }
        self.dropped = self
            .dropped
            .saturating_add(other.dropped)
            .saturating_add(dropped);
        dropped
    }

    /// Sessions [`Self::merge`] dropped (here or in the logs merged in) because the log already
    /// held [`MAX_SESSIONS`] sessions. Their flows cannot be decrypted.
    pub fn dropped_sessions(&self) -> u64 {
        self.dropped
    }

    /// A warning for the user when sessions were dropped ([`Self::dropped_sessions`]), `None`
    /// otherwise.
    pub fn limit_warning(&self) -> Option<String> {
        (self.dropped > 0).then(|| {
            format!(
                "key log holds more than {MAX_SESSIONS} sessions: {} more were dropped, their \
                 flows cannot be decrypted; keep only the sessions of the captures analysed",
                self.dropped
            )
        })
    }

    /// Number of sessions (distinct client randoms).
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// No session at all.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Reads one line (without its line end) into the log.
    fn add_line(&mut self, line_no: usize, line: &[u8]) -> Result<(), KeyLogError> {
        self.add_line_within(line_no, line, MAX_SESSIONS)
            .map_err(LineError::into_error)
    }

    /// [`Self::add_line`] with the session bound as a parameter.
    fn add_line_within(
        &mut self,
        line_no: usize,
        line: &[u8],
        max_sessions: usize,
    ) -> Result<(), LineError> {
        let fail = |what: String| {
            LineError::Bad(KeyLogError {
                line: line_no,
                what,
            })
        };
        if line.len() > MAX_LINE_LEN {
            return Err(LineError::Bad(too_long(line_no)));
        }
        // A file saved by a Windows editor may start with a UTF-8 byte order mark.
        let line = match line_no {
            1 => line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(line),
            _ => line,
        };
        let mut fields = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|f| !f.is_empty());
        let Some(label) = fields.next() else {
            return Ok(()); // blank line
        };
        if label.first() == Some(&b'#') {
            return Ok(());
        }
        if !label
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
        {
            return Err(fail(
                "not a key log line: expected LABEL CLIENT_RANDOM SECRET".to_string(),
            ));
        }
        let Some(kind) = Label::from_bytes(label) else {
            return Ok(()); // RSA or a label from a newer TLS library
        };
        let name = String::from_utf8_lossy(label);
        let (Some(random), Some(secret)) = (fields.next(), fields.next()) else {
            return Err(fail(format!(
                "{name} needs a client random and a secret after the label"
            )));
        };
        if fields.next().is_some() {
            return Err(fail(format!(
                "unexpected text after the {name} secret (expected LABEL CLIENT_RANDOM SECRET)"
            )));
        }
        let random: [u8; 32] = decode_hex(random)
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| fail("client random must be 64 hex digits".to_string()))?;
        let secret =
            decode_hex(secret).ok_or_else(|| fail(format!("{name} secret must be hex digits")))?;
        if !kind.length_ok(secret.len()) {
            return Err(fail(format!(
                "{name} secret must be {}, found {} hex digits",
                kind.expected(),
                secret.len().saturating_mul(2)
            )));
        }
        if !kind.is_kept() {
            return Ok(()); // exporter secret: valid, not needed
        }
        if !self.sessions.contains_key(&random) && self.sessions.len() >= max_sessions {
            return Err(LineError::Full(KeyLogError {
                line: line_no,
                what: format!(
                    "more than {max_sessions} sessions; keep only the sessions of this capture"
                ),
            }));
        }
        if let Some(slot) = kind.slot(self.sessions.entry(random).or_default()) {
            *slot = Some(secret);
        }
        Ok(())
    }
}

/// Why [`KeyLog::from_reader_within`] stopped.
#[derive(Debug)]
enum ReadError {
    Io(io::Error),
    Line(KeyLogError),
    /// A new session on this line would go over the session limit.
    Full {
        line: usize,
    },
}

/// Why one line was refused.
#[derive(Debug)]
enum LineError {
    /// The line is not a key log line.
    Bad(KeyLogError),
    /// The line is fine but opens a session over the limit.
    Full(KeyLogError),
}

impl LineError {
    fn into_error(self) -> KeyLogError {
        match self {
            LineError::Bad(e) | LineError::Full(e) => e,
        }
    }
}

/// The labels whose secrets are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    ClientHandshake,
    ServerHandshake,
    ClientTraffic0,
    ServerTraffic0,
    ClientEarly,
    Exporter,
    EarlyExporter,
    ClientRandom,
}

impl Label {
    fn from_bytes(label: &[u8]) -> Option<Label> {
        Some(match label {
            b"CLIENT_HANDSHAKE_TRAFFIC_SECRET" => Label::ClientHandshake,
            b"SERVER_HANDSHAKE_TRAFFIC_SECRET" => Label::ServerHandshake,
            b"CLIENT_TRAFFIC_SECRET_0" => Label::ClientTraffic0,
            b"SERVER_TRAFFIC_SECRET_0" => Label::ServerTraffic0,
            b"CLIENT_EARLY_TRAFFIC_SECRET" => Label::ClientEarly,
            b"EXPORTER_SECRET" => Label::Exporter,
            b"EARLY_EXPORTER_SECRET" => Label::EarlyExporter,
            b"CLIENT_RANDOM" => Label::ClientRandom,
            _ => return None,
        })
    }

    /// TLS 1.3 secrets are one hash long (SHA-256 or SHA-384); the TLS 1.2 master secret is 48
    /// bytes.
    fn length_ok(self, len: usize) -> bool {
        match self {
            Label::ClientRandom => len == 48,
            _ => len == 32 || len == 48,
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Label::ClientRandom => "96 hex digits (a 48-byte master secret)",
            _ => "64 or 96 hex digits (a SHA-256 or SHA-384 hash)",
        }
    }

    /// Where the secret goes; `None` for the secrets not kept.
    fn slot(self, s: &mut SessionSecrets) -> Option<&mut Option<Vec<u8>>> {
        Some(match self {
            Label::ClientHandshake => &mut s.client_handshake,
            Label::ServerHandshake => &mut s.server_handshake,
            Label::ClientTraffic0 => &mut s.client_traffic_0,
            Label::ServerTraffic0 => &mut s.server_traffic_0,
            Label::ClientEarly => &mut s.client_early,
            Label::ClientRandom => &mut s.master_secret,
            Label::Exporter | Label::EarlyExporter => return None,
        })
    }

    /// The secret is kept in [`SessionSecrets`].
    fn is_kept(self) -> bool {
        !matches!(self, Label::Exporter | Label::EarlyExporter)
    }
}

fn too_long(line: usize) -> KeyLogError {
    KeyLogError {
        line,
        what: format!("line longer than {MAX_LINE_LEN} bytes: not a key log line"),
    }
}

/// Lines of `text` with their 1-based numbers, line ends (LF or CRLF) removed.
fn lines(text: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let empty = text.is_empty();
    text.split(|b| *b == b'\n')
        .filter(move |_| !empty)
        .map(trim_line_end)
        .enumerate()
        .map(|(i, line)| (i.saturating_add(1), line))
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Decodes an even number of hex digits (either case); `None` on anything else.
fn decode_hex(digits: &[u8]) -> Option<Vec<u8>> {
    if digits.is_empty() {
        return None;
    }
    hex::decode(digits).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANDOM: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const S32: &str = "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38";

    fn random() -> [u8; 32] {
        hex::decode(RANDOM).unwrap().try_into().unwrap()
    }

    fn err(text: &str) -> KeyLogError {
        KeyLog::parse(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn reads_every_tls13_label_of_a_session() {
        let s48 = "ab".repeat(48);
        let text = format!(
            "# SSL/TLS secrets log file, generated by OpenSSL\r\n\
             SERVER_HANDSHAKE_TRAFFIC_SECRET {RANDOM} {S32}\r\n\
             \r\n\
             EXPORTER_SECRET {RANDOM} {S32}\r\n\
             CLIENT_HANDSHAKE_TRAFFIC_SECRET {RANDOM} {s48}\r\n\
             SERVER_TRAFFIC_SECRET_0 {RANDOM} {S32}\n\
             CLIENT_TRAFFIC_SECRET_0 {RANDOM} {S32}\n\
             CLIENT_EARLY_TRAFFIC_SECRET {RANDOM} {S32}\n\
             EARLY_EXPORTER_SECRET {RANDOM} {S32}\n"
        );
        let log = KeyLog::parse(text.as_bytes()).unwrap();
        assert_eq!(log.len(), 1);
        assert!(!log.is_empty());
        let s = log.get(&random()).unwrap();
        let s32 = hex::decode(S32).unwrap();
        assert_eq!(s.server_handshake.as_deref(), Some(&s32[..]));
        assert_eq!(s.client_handshake, Some(vec![0xab; 48]));
        assert_eq!(s.server_traffic_0.as_deref(), Some(&s32[..]));
        assert_eq!(s.client_traffic_0.as_deref(), Some(&s32[..]));
        assert_eq!(s.client_early.as_deref(), Some(&s32[..]));
        assert_eq!(s.master_secret, None);
        assert!(log.get(&[0; 32]).is_none());
    }

    #[test]
    fn reads_tls12_master_secret_and_uppercase_hex() {
        let ms = "0F".repeat(48);
        let text = format!("CLIENT_RANDOM {} {ms}", RANDOM.to_uppercase());
        let log = KeyLog::parse(text.as_bytes()).unwrap();
        assert_eq!(
            log.get(&random()).unwrap().master_secret,
            Some(vec![0x0f; 48])
        );
    }

    #[test]
    fn ignores_rsa_and_unknown_labels_comments_and_blank_lines() {
        let text = format!(
            "RSA 0011223344556677 {}\n\
             \t  \n\
             # comment {RANDOM}\n\
             CLIENT_FUTURE_SECRET_9 whatever shape\n\
             SERVER_HANDSHAKE_TRAFFIC_SECRET  {RANDOM}\t{S32}  \n",
            "aa".repeat(48)
        );
        let log = KeyLog::parse(text.as_bytes()).unwrap();
        assert_eq!(log.len(), 1);
        assert!(log.get(&random()).unwrap().server_handshake.is_some());
    }

    #[test]
    fn empty_text_is_an_empty_log() {
        assert!(KeyLog::parse(b"").unwrap().is_empty());
        assert!(KeyLog::parse(b"\n\n# only a comment\n").unwrap().is_empty());
        assert!(KeyLog::default().is_empty());
    }

    #[test]
    fn malformed_lines_name_their_line_number() {
        let good = format!("SERVER_HANDSHAKE_TRAFFIC_SECRET {RANDOM} {S32}");
        let e = err(&format!(
            "# header\n{good}\nCLIENT_HANDSHAKE_TRAFFIC_SECRET abcd {S32}\n"
        ));
        assert_eq!(
            e,
            KeyLogError {
                line: 3,
                what: "client random must be 64 hex digits".into()
            }
        );
        assert_eq!(e.to_string(), "line 3: client random must be 64 hex digits");

        let bad_random = RANDOM.replace('a', "g");
        assert_eq!(
            err(&format!("CLIENT_RANDOM {bad_random} {}", "00".repeat(48))).what,
            "client random must be 64 hex digits"
        );
        let e = err(&format!(
            "{good}\r\n{good}\r\nCLIENT_TRAFFIC_SECRET_0 {RANDOM}\r\n"
        ));
        assert_eq!(e.line, 3);
        assert_eq!(
            e.what,
            "CLIENT_TRAFFIC_SECRET_0 needs a client random and a secret after the label"
        );
        assert_eq!(err("CLIENT_RANDOM").line, 1);
        assert_eq!(
            err(&format!("{good} extra")).what,
            "unexpected text after the SERVER_HANDSHAKE_TRAFFIC_SECRET secret \
             (expected LABEL CLIENT_RANDOM SECRET)"
        );
        assert_eq!(
            err(&format!("\n\nEXPORTER_SECRET {RANDOM} {}z", &S32[1..])),
            KeyLogError {
                line: 3,
                what: "EXPORTER_SECRET secret must be hex digits".into()
            }
        );
        // Odd number of digits.
        assert_eq!(
            err(&format!("EXPORTER_SECRET {RANDOM} {}", &S32[1..])).what,
            "EXPORTER_SECRET secret must be hex digits"
        );
        assert_eq!(
            err(&format!("CLIENT_RANDOM {RANDOM} {S32}")).what,
            "CLIENT_RANDOM secret must be 96 hex digits (a 48-byte master secret), \
             found 64 hex digits"
        );
        assert_eq!(
            err(&format!("CLIENT_HANDSHAKE_TRAFFIC_SECRET {RANDOM} abcd")).what,
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET secret must be 64 or 96 hex digits \
             (a SHA-256 or SHA-384 hash), found 4 hex digits"
        );
        assert_eq!(
            err("hello world").what,
            "not a key log line: expected LABEL CLIENT_RANDOM SECRET"
        );
        assert_eq!(err("#\n\u{feff}CLIENT_RANDOM x y").line, 2);
        let with_bom = format!("\u{feff}SERVER_HANDSHAKE_TRAFFIC_SECRET {RANDOM} {S32}");
        assert_eq!(KeyLog::parse(with_bom.as_bytes()).unwrap().len(), 1);
    }

    #[test]
    fn overlong_lines_are_refused() {
        let text = format!("# {}\n", "x".repeat(MAX_LINE_LEN));
        assert_eq!(err(&text), too_long(1));
        let r = KeyLog::from_reader(text.as_bytes());
        assert!(matches!(r, Err(ReadError::Line(e)) if e == too_long(1)));
        // Exactly at the limit, with CRLF, is fine.
        let text = format!("#{}\r\n", "x".repeat(MAX_LINE_LEN - 1));
        assert!(KeyLog::parse(text.as_bytes()).unwrap().is_empty());
        assert!(KeyLog::from_reader(text.as_bytes()).unwrap().is_empty());
    }

    #[test]
    fn later_lines_and_merged_logs_replace_earlier_secrets() {
        let other = "11".repeat(32);
        let text = format!(
            "SERVER_HANDSHAKE_TRAFFIC_SECRET {RANDOM} {S32}\n\
             SERVER_HANDSHAKE_TRAFFIC_SECRET {RANDOM} {other}\n"
        );
        let mut log = KeyLog::parse(text.as_bytes()).unwrap();
        assert_eq!(
            log.get(&random()).unwrap().server_handshake,
            Some(vec![0x11; 32])
        );

        let text = format!(
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET {RANDOM} {S32}\n\
             CLIENT_HANDSHAKE_TRAFFIC_SECRET {} {S32}\n",
            "ff".repeat(32)
        );
        log.merge(KeyLog::parse(text.as_bytes()).unwrap());
        assert_eq!(log.len(), 2);
        let s = log.get(&random()).unwrap();
        assert_eq!(s.server_handshake, Some(vec![0x11; 32]));
        assert_eq!(s.client_handshake, Some(hex::decode(S32).unwrap()));
        let s = log.get(&[0xff; 32]).unwrap();
        assert!(s.client_handshake.is_some() && s.server_handshake.is_none());
    }

    #[test]
    fn lenient_parse_keeps_good_lines_and_lists_bad_ones() {
        let text = format!(
            "garbage\n\
             SERVER_HANDSHAKE_TRAFFIC_SECRET {RANDOM} {S32}\n\
             CLIENT_RANDOM 00 11\n"
        );
        let (log, errors) = KeyLog::parse_lenient(text.as_bytes());
        assert_eq!(log.len(), 1);
        assert_eq!(
            errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![1, 3]
        );
    }

    #[test]
    fn lenient_parse_bounds_its_error_list() {
        let text = "x\n".repeat(MAX_LISTED_ERRORS + 50);
        let (log, errors) = KeyLog::parse_lenient(text.as_bytes());
        assert!(log.is_empty());
        assert_eq!(errors.len(), MAX_LISTED_ERRORS + 1);
        let last = errors.last().unwrap();
        assert_eq!(last.line, MAX_LISTED_ERRORS + 1);
        assert_eq!(last.what, "50 more malformed lines from here on");
    }

    #[test]
    fn from_file_explains_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.keys");
        let e = KeyLog::from_file(&missing).unwrap_err();
        assert!(matches!(e, KeyLogFileError::NotFound { .. }));
        let msg = e.to_string();
        assert!(msg.contains("missing.keys not found"), "{msg}");
        assert!(msg.contains("SSLKEYLOGFILE"), "{msg}");

        let bad = dir.path().join("bad.keys");
        std::fs::write(
            &bad,
            format!("# ok\nSERVER_HANDSHAKE_TRAFFIC_SECRET {RANDOM} {S32}\nCLIENT_RANDOM 12 34\n"),
        )
        .unwrap();
        let e = KeyLog::from_file(&bad).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.ends_with(
                "bad.keys: line 3: client random must be 64 hex digits; fix or delete that \
                 line (format: LABEL CLIENT_RANDOM SECRET)"
            ),
            "{msg}"
        );

        let good = dir.path().join("good.keys");
        std::fs::write(
            &good,
            format!("SERVER_HANDSHAKE_TRAFFIC_SECRET {RANDOM} {S32}\r\n"),
        )
        .unwrap();
        assert_eq!(KeyLog::from_file(&good).unwrap().len(), 1);

        let e = KeyLog::from_file(dir.path()).unwrap_err();
        assert!(matches!(e, KeyLogFileError::Read { .. }), "{e:?}");
    }

    #[test]
    fn session_count_is_bounded() {
        let mut log = KeyLog::default();
        let line = |r: u8| format!("CLIENT_RANDOM {} {}", hex::encode([r; 32]), "00".repeat(48));
        log.add_line_within(1, line(1).as_bytes(), 2).unwrap();
        log.add_line_within(2, line(2).as_bytes(), 2).unwrap();
        // A known session may still gain secrets; a new one may not.
        log.add_line_within(3, line(2).as_bytes(), 2).unwrap();
        let e = log
            .add_line_within(4, line(3).as_bytes(), 2)
            .unwrap_err()
            .into_error();
        assert_eq!(
            e.to_string(),
            "line 4: more than 2 sessions; keep only the sessions of this capture"
        );
        assert_eq!(log.len(), 2);
    }

    fn sessions_text(randoms: std::ops::RangeInclusive<u8>) -> String {
        randoms
            .map(|r| {
                format!(
                    "CLIENT_RANDOM {} {}\n",
                    hex::encode([r; 32]),
                    "00".repeat(48)
                )
            })
            .collect()
    }

    #[test]
    fn merge_counts_the_sessions_it_drops() {
        let mut log = KeyLog::parse(sessions_text(1..=2).as_bytes()).unwrap();
        assert_eq!(log.dropped_sessions(), 0);
        assert_eq!(log.limit_warning(), None);
        // Session 2 is known (it gains secrets), 3 and 4 are new: over a limit of 3, one drops.
        let other = KeyLog::parse(sessions_text(2..=4).as_bytes()).unwrap();
        assert_eq!(log.merge_within(other, 3), 1);
        assert_eq!(log.len(), 3);
        assert_eq!(log.dropped_sessions(), 1);
        assert!(log.get(&[3; 32]).is_some() ^ log.get(&[4; 32]).is_some());
        // A full log merged into another carries its count along.
        let mut outer = KeyLog::default();
        assert_eq!(outer.merge(log), 0);
        assert_eq!(outer.len(), 3);
        assert_eq!(outer.dropped_sessions(), 1);
        assert_eq!(
            outer.limit_warning().unwrap(),
            format!(
                "key log holds more than {MAX_SESSIONS} sessions: 1 more were dropped, their \
                 flows cannot be decrypted; keep only the sessions of the captures analysed"
            )
        );
    }

    #[test]
    fn from_file_names_the_first_line_over_the_session_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.keys");
        std::fs::write(&path, format!("# three\n{}", sessions_text(1..=3))).unwrap();
        assert_eq!(KeyLog::from_file_within(&path, 3).unwrap().len(), 3);
        let e = KeyLog::from_file_within(&path, 2).unwrap_err();
        assert!(
            matches!(
                e,
                KeyLogFileError::TooManySessions {
                    line: 4,
                    max: 2,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            e.to_string().ends_with(
                "big.keys: line 4: more than 2 sessions; keep only the sessions of the \
                 captures analysed (e.g. grep their client randoms)"
            ),
            "{e}"
        );
        // The text parsers refuse the same line.
        let text = sessions_text(1..=3);
        let mut log = KeyLog::default();
        let mut refused = Vec::new();
        for (n, line) in lines(text.as_bytes()) {
            if let Err(e) = log.add_line_within(n, line, 2) {
                refused.push(e.into_error().line);
            }
        }
        assert_eq!(refused, vec![3]);
    }

    #[test]
    fn reader_and_text_parsers_agree_without_final_newline() {
        let text = format!("# c\nSERVER_HANDSHAKE_TRAFFIC_SECRET {RANDOM} {S32}");
        let a = KeyLog::parse(text.as_bytes()).unwrap();
        let b = KeyLog::from_reader(text.as_bytes()).unwrap();
        assert_eq!(a.get(&random()), b.get(&random()));
        assert_eq!(a.len(), 1);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let samples: [&[u8]; 6] = [
            b"\xff\xfe\x00",
            b"\r\r\r\n\n",
            b"CLIENT_RANDOM \xff",
            b"#\n#\r\nA",
            b"   \t",
            b"CLIENT_RANDOM 0 0 0",
        ];
        for s in samples {
            let _ = KeyLog::parse(s);
            let _ = KeyLog::parse_lenient(s);
            let _ = KeyLog::from_reader(s);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_parse_without_panic(text in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let strict = KeyLog::parse(&text);
            let (lenient, errors) = KeyLog::parse_lenient(&text);
            let streamed = KeyLog::from_reader(&text[..]);
            // Strict parsing fails exactly when lenient parsing found an error.
            proptest::prop_assert_eq!(strict.is_err(), !errors.is_empty());
            proptest::prop_assert_eq!(streamed.is_err(), !errors.is_empty());
            if let Ok(strict) = strict {
                proptest::prop_assert_eq!(strict.len(), lenient.len());
            }
        }

        #[test]
        fn near_valid_lines_parse_without_panic(
            label in "(CLIENT_RANDOM|SERVER_HANDSHAKE_TRAFFIC_SECRET|RSA|X)",
            random in "[0-9a-fA-F]{0,70}",
            secret in "[0-9a-fg]{0,100}",
            end in "(\\r\\n|\\n|)",
        ) {
            let line = format!("{label} {random} {secret}{end}");
            let (_, errors) = KeyLog::parse_lenient(line.as_bytes());
            proptest::prop_assert!(errors.iter().all(|e| e.line == 1));
        }
    }
}
