//! Cleartext that is not HTTP: well-known text and binary protocols named from their first bytes,
//! then any printable text, then binary data that is not high-entropy.

use super::escape::{escape, first_line};
use super::redact::redact_text_line;
use super::Side;
use crate::classify::entropy;

/// Longest quoted line, in characters.
pub const MAX_QUOTE_CHARS: usize = 120;
/// Bytes looked at to decide whether a run is text.
const TEXT_SAMPLE: usize = 1024;

/// What was recognised in one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Other {
    /// `smtp`, `ftp`, `pop3`, `imap`, `redis`, `postgresql`, `mysql`, `mongodb`, `amqp`, `mqtt`,
    /// `nats`, `vnc`, or `unknown`.
    pub protocol: &'static str,
    /// Redacted quote.
    pub evidence: String,
    /// Stream offset of the quoted bytes.
    pub offset: usize,
    /// What the bytes are, for a reason sentence (`SMTP`, `printable text`, ...).
    pub what: String,
    /// The client asks to switch to TLS (STARTTLS, STLS, AUTH TLS, SSLRequest).
    pub starttls: bool,
    /// The name rests on a command several protocols share (`USER`): a server banner decides.
    pub weak: bool,
}

impl Other {
    fn new(protocol: &'static str, what: &str, evidence: String, offset: usize) -> Other {
        Other {
            protocol,
            evidence,
            offset,
            what: what.to_string(),
            starttls: false,
            weak: false,
        }
    }
}

/// Recognises cleartext in `bytes` (a direction's contiguous run) sent by `side`.
pub fn recognise(bytes: &[u8], side: Side) -> Option<Other> {
    if bytes.is_empty() {
        return None;
    }
    let named = match side {
        Side::Client => client_binary(bytes).or_else(|| client_text(bytes)),
        Side::Server => server_binary(bytes).or_else(|| server_text(bytes)),
    };
    named.or_else(|| printable(bytes)).or_else(|| binary(bytes))
}

fn quote_line(bytes: &[u8]) -> String {
    redact_text_line(&escape(first_line(bytes), MAX_QUOTE_CHARS))
}

fn upper_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(first_line(bytes).get(..64).unwrap_or(first_line(bytes)))
        .to_ascii_uppercase()
}

fn client_text(bytes: &[u8]) -> Option<Other> {
    let line = upper_line(bytes);
    let word = |w: &str| line == w || line.starts_with(&format!("{w} "));
    let sample = bytes.get(..2048).unwrap_or(bytes);
    let has_line = |l: &[u8]| {
        sample
            .split(|&b| b == b'\n')
            .any(|x| x.strip_suffix(b"\r").unwrap_or(x).eq_ignore_ascii_case(l))
    };
    let mut found = if word("EHLO") || word("HELO") {
        let mut o = Other::new("smtp", "SMTP commands", quote_line(bytes), 0);
        o.starttls = has_line(b"STARTTLS");
        o
    } else if word("AUTH TLS")
        || word("AUTH SSL")
        || word("AUTH GSSAPI")
        || word("FEAT")
        || word("SYST")
    {
        let mut o = Other::new("ftp", "FTP commands", quote_line(bytes), 0);
        o.starttls = line.starts_with("AUTH TLS") || line.starts_with("AUTH SSL");
        o
    } else if word("USER") {
        let mut o = Other::new("ftp", "FTP commands", quote_line(bytes), 0);
        o.weak = true;
        o
    } else if word("CAPA") || word("STLS") || word("APOP") {
        let mut o = Other::new("pop3", "POP3 commands", quote_line(bytes), 0);
        o.starttls = has_line(b"STLS");
        o
    } else if is_imap_command(&line) {
        let mut o = Other::new("imap", "IMAP commands", quote_line(bytes), 0);
        o.starttls = line.ends_with(" STARTTLS");
        o
    } else if let Some(o) = redis_command(bytes) {
        o
    } else if word("PING") && first_line(bytes).len() == 4 {
        Other::new("redis", "a Redis command", "PING".into(), 0)
    } else if line.starts_with("CONNECT {") {
        Other::new("nats", "NATS commands", quote_line(bytes), 0)
    } else {
        xmpp(bytes)?
    };
    found.evidence = found.evidence.trim_end().to_string();
    Some(found)
}

/// An XMPP stream header (`<?xml ...?><stream:stream ...>`); `<starttls` asks for TLS.
fn xmpp(bytes: &[u8]) -> Option<Other> {
    let sample = bytes.get(..2048).unwrap_or(bytes);
    let contains = |needle: &[u8]| sample.windows(needle.len()).any(|w| w == needle);
    let start = sample.iter().position(|b| !b.is_ascii_whitespace())?;
    let from_start = sample.get(start..)?;
    let opens = from_start.starts_with(b"<?xml") || from_start.starts_with(b"<stream:stream");
    if !opens || !contains(b"<stream:stream") {
        return None;
    }
    let mut o = Other::new("xmpp", "an XMPP stream", quote_line(from_start), start);
    o.starttls = contains(b"<starttls");
    Some(o)
}

fn is_imap_command(line: &str) -> bool {
    let mut parts = line.split(' ');
    let (Some(tag), Some(cmd)) = (parts.next(), parts.next()) else {
        return false;
    };
    !tag.is_empty()
        && tag.len() <= 16
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
        && [
            "CAPABILITY",
            "LOGIN",
            "STARTTLS",
            "AUTHENTICATE",
            "ID",
            "NOOP",
        ]
        .contains(&cmd)
}

/// A RESP array of bulk strings: `*N\r\n$L\r\nCOMMAND\r\n...`. Quoted as the command name and the
/// number of its arguments (arguments may be keys or passwords).
fn redis_command(bytes: &[u8]) -> Option<Other> {
    let mut lines = bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let count: usize = std::str::from_utf8(lines.next()?.strip_prefix(b"*")?)
        .ok()?
        .parse()
        .ok()?;
    let len: usize = std::str::from_utf8(lines.next()?.strip_prefix(b"$")?)
        .ok()?
        .parse()
        .ok()?;
    let name = lines.next()?;
    if count == 0 || count > 1_000_000 || name.len() != len || len == 0 || len > 32 {
        return None;
    }
    if !name
        .iter()
        .all(|b| b.is_ascii_alphabetic() || b == &b'.' || b == &b'_' || b == &b'-')
    {
        return None;
    }
    let name = String::from_utf8_lossy(name).to_ascii_uppercase();
    let args = count - 1;
    let plural = if args == 1 { "" } else { "s" };
    Some(Other::new(
        "redis",
        "a Redis command",
        format!("{name} with {args} argument{plural}"),
        0,
    ))
}

fn server_text(bytes: &[u8]) -> Option<Other> {
    let line = upper_line(bytes);
    let found = if line.starts_with("220") && line.contains("SMTP") {
        Other::new("smtp", "an SMTP banner", quote_line(bytes), 0)
    } else if line.starts_with("220") && line.contains("FTP") {
        Other::new("ftp", "an FTP banner", quote_line(bytes), 0)
    } else if line.starts_with("+OK") {
        Other::new("pop3", "a POP3 banner", quote_line(bytes), 0)
    } else if line.starts_with("* OK") || line.starts_with("* PREAUTH") {
        Other::new("imap", "an IMAP banner", quote_line(bytes), 0)
    } else if line.starts_with("INFO {") {
        Other::new("nats", "a NATS banner", quote_line(bytes), 0)
    } else if line.starts_with("RFB 00") {
        Other::new("vnc", "a VNC (RFB) banner", quote_line(bytes), 0)
    } else {
        xmpp(bytes)?
    };
    Some(found)
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// A NUL-terminated printable string at `at`.
fn cstr(bytes: &[u8], at: usize, max: usize) -> Option<&[u8]> {
    let rest = bytes.get(at..)?;
    let end = rest.iter().take(max).position(|&b| b == 0)?;
    let s = rest.get(..end)?;
    s.iter()
        .all(|b| b.is_ascii_graphic() || *b == b' ')
        .then_some(s)
}

fn client_binary(bytes: &[u8]) -> Option<Other> {
    socks_client(bytes)
        .or_else(|| postgres_client(bytes))
        .or_else(|| mongodb(bytes))
        .or_else(|| {
            bytes.starts_with(b"AMQP\x00\x00\x09\x01").then(|| {
                Other::new(
                    "amqp",
                    "an AMQP 0-9-1 protocol header",
                    "AMQP 0-9-1".into(),
                    0,
                )
            })
        })
        .or_else(|| mqtt_connect(bytes))
}

/// A SOCKS4/4a CONNECT or BIND, or a SOCKS5 greeting (and request). `starttls` when a TLS record
/// follows the request: the proxied connection is encrypted.
fn socks_client(bytes: &[u8]) -> Option<Other> {
    let (evidence, request_end) = match *bytes {
        [4, cmd @ (1 | 2), p0, p1, a, b, c, d, ..] => {
            let user_end = 8 + bytes.get(8..)?.iter().take(256).position(|&x| x == 0)?;
            let verb = if cmd == 1 { "CONNECT" } else { "BIND" };
            let port = u16::from_be_bytes([p0, p1]);
            if a == 0 && b == 0 && c == 0 && d != 0 {
                // SOCKS4a: a host name follows the user id.
                let host = bytes.get(user_end + 1..)?;
                let host_len = host.iter().take(256).position(|&x| x == 0)?;
                let name = escape(host.get(..host_len)?, 64);
                (
                    format!("SOCKS4a {verb} {name}:{port}"),
                    user_end + 2 + host_len,
                )
            } else {
                (
                    format!("SOCKS4 {verb} {a}.{b}.{c}.{d}:{port}"),
                    user_end + 1,
                )
            }
        }
        [5, n @ 1..=9, ..] => {
            let methods = bytes.get(2..2 + usize::from(n))?;
            if !methods.iter().all(|&m| m <= 9 || m >= 0x80) {
                return None;
            }
            let greeting_end = 2 + usize::from(n);
            match bytes.get(greeting_end..) {
                Some([]) => ("SOCKS5 greeting".to_string(), greeting_end),
                Some([5, 1..=3, 0, atyp @ (1 | 3 | 4), rest @ ..]) => {
                    let (target, len) = match (*atyp, rest) {
                        (1, [a, b, c, d, p0, p1, ..]) => (
                            format!("{a}.{b}.{c}.{d}:{}", u16::from_be_bytes([*p0, *p1])),
                            6,
                        ),
                        (3, [n, tail @ ..]) => {
                            let n = usize::from(*n);
                            let name = escape(tail.get(..n)?, 64);
                            let &[p0, p1] = tail.get(n..n + 2)? else {
                                return None;
                            };
                            (format!("{name}:{}", u16::from_be_bytes([p0, p1])), n + 3)
                        }
                        (4, [..]) if rest.len() >= 18 => ("[IPv6]".to_string(), 18),
                        _ => return None,
                    };
                    (format!("SOCKS5 CONNECT {target}"), greeting_end + 4 + len)
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    let mut o = Other::new("socks", "a SOCKS proxy request", evidence, 0);
    o.starttls = bytes
        .get(request_end..)
        .is_some_and(|rest| matches!(rest, [22, 3, 0..=4, ..]));
    Some(o)
}

fn postgres_client(bytes: &[u8]) -> Option<Other> {
    let len = be32(bytes, 0)? as usize;
    let code = be32(bytes, 4)?;
    let mut o = match (len, code) {
        (8, 80_877_103) => {
            let mut o = Other::new(
                "postgresql",
                "a PostgreSQL SSLRequest",
                "SSLRequest".into(),
                0,
            );
            o.starttls = true;
            o
        }
        (8, 80_877_104) => Other::new(
            "postgresql",
            "a PostgreSQL GSSENCRequest",
            "GSSENCRequest".into(),
            0,
        ),
        (16, 80_877_102) => Other::new(
            "postgresql",
            "a PostgreSQL CancelRequest",
            "CancelRequest".into(),
            0,
        ),
        (9..=10_000, 0x0003_0000) => {
            let body = bytes.get(8..len.min(bytes.len()))?;
            let mut params = Vec::new();
            let mut parts = body.split(|&b| b == 0);
            while let (Some(k), Some(v)) = (parts.next(), parts.next()) {
                if k.is_empty() {
                    break;
                }
                if [&b"user"[..], b"database", b"application_name"].contains(&k) {
                    params.push(format!("{}={}", escape(k, 20), escape(v, 40)));
                }
            }
            let evidence = if params.is_empty() {
                "StartupMessage v3.0".to_string()
            } else {
                format!("StartupMessage v3.0 {}", params.join(" "))
            };
            Other::new("postgresql", "a PostgreSQL startup message", evidence, 0)
        }
        _ => return None,
    };
    o.evidence = super::escape::truncate(&o.evidence, MAX_QUOTE_CHARS);
    Some(o)
}

fn mongodb(bytes: &[u8]) -> Option<Other> {
    let len = le32(bytes, 0)?;
    let op = le32(bytes, 12)?;
    if !(16..=48_000_000).contains(&len) || le32(bytes, 8)? != 0 {
        return None;
    }
    let evidence = match op {
        2013 => {
            // flags (4), section kind 0 (1), BSON length (4), element type (1), command name.
            let name = (bytes.get(20) == Some(&0))
                .then(|| cstr(bytes, 26, 64))
                .flatten();
            match name {
                Some(n) => format!("OP_MSG {}", escape(n, 64)),
                None => "OP_MSG".to_string(),
            }
        }
        2004 => "OP_QUERY".to_string(),
        2012 => "OP_COMPRESSED".to_string(),
        _ => return None,
    };
    Some(Other::new("mongodb", "a MongoDB request", evidence, 0))
}

fn mqtt_connect(bytes: &[u8]) -> Option<Other> {
    if bytes.first() != Some(&0x10) {
        return None;
    }
    // Remaining length: 1 to 4 bytes.
    let skip = bytes.get(1..5)?.iter().position(|&b| b & 0x80 == 0)? + 2;
    let rest = bytes.get(skip..)?;
    if rest.starts_with(b"\x00\x04MQTT") || rest.starts_with(b"\x00\x06MQIsdp") {
        Some(Other::new("mqtt", "an MQTT CONNECT", "CONNECT".into(), 0))
    } else {
        None
    }
}

fn server_binary(bytes: &[u8]) -> Option<Other> {
    mysql_greeting(bytes).or_else(|| postgres_server(bytes))
}

fn mysql_greeting(bytes: &[u8]) -> Option<Other> {
    let &[l0, l1, l2, seq, proto, ..] = bytes else {
        return None;
    };
    let len = u32::from_le_bytes([l0, l1, l2, 0]);
    if seq != 0 || proto != 10 || !(20..=1024).contains(&len) {
        return None;
    }
    let version = cstr(bytes, 5, 64).filter(|v| v.first().is_some_and(u8::is_ascii_digit))?;
    Some(Other::new(
        "mysql",
        "a MySQL server greeting",
        format!("MySQL greeting, server version {}", escape(version, 64)),
        0,
    ))
}

fn postgres_server(bytes: &[u8]) -> Option<Other> {
    let kind = *bytes.first()?;
    let len = be32(bytes, 1)? as usize;
    match kind {
        b'R' if (8..=2048).contains(&len) => {
            let code = be32(bytes, 5)?;
            let what = match code {
                0 => "AuthenticationOk",
                3 => "AuthenticationCleartextPassword",
                5 => "AuthenticationMD5Password",
                10 => "AuthenticationSASL",
                7 | 8 | 9 | 11 | 12 => "Authentication request",
                _ => return None,
            };
            Some(Other::new(
                "postgresql",
                "a PostgreSQL authentication request",
                what.into(),
                0,
            ))
        }
        b'E' if (8..=65_536).contains(&len)
            && bytes.get(5).is_some_and(|b| b"SVCM".contains(b)) =>
        {
            let body = bytes.get(5..(1 + len).min(bytes.len()))?;
            let message = body
                .split(|&b| b == 0)
                .find(|f| f.first() == Some(&b'M'))
                .map(|f| escape(f.get(1..).unwrap_or_default(), MAX_QUOTE_CHARS - 15));
            let evidence = match message {
                Some(m) => format!("ErrorResponse: {m}"),
                None => "ErrorResponse".into(),
            };
            Some(Other::new(
                "postgresql",
                "a PostgreSQL error response",
                evidence,
                0,
            ))
        }
        _ => None,
    }
}

/// Mostly printable text (ASCII or UTF-8, with tabs and line ends): quoted from its first
/// non-empty line.
fn printable(bytes: &[u8]) -> Option<Other> {
    let sample = bytes.get(..TEXT_SAMPLE).unwrap_or(bytes);
    if sample.len() < 3 || !is_text(sample) {
        return None;
    }
    let start = sample.iter().position(|b| !b.is_ascii_whitespace())?;
    Some(Other::new(
        "unknown",
        "printable text",
        quote_line(bytes.get(start..)?),
        start,
    ))
}

/// At least 90% of the characters are printable; a UTF-8 sequence cut by the sample's end counts.
pub fn is_text(sample: &[u8]) -> bool {
    let mut printable = 0usize;
    let mut total = 0usize;
    for chunk in sample.utf8_chunks() {
        for c in chunk.valid().chars() {
            total += 1;
            if !c.is_control() || matches!(c, '\t' | '\r' | '\n') {
                printable += 1;
            }
        }
        total += chunk.invalid().len();
    }
    total > 0 && printable * 10 >= total * 9
}

/// Binary data that is not high-entropy. Below [`entropy::MIN_SAMPLE_BYTES`] entropy cannot judge,
/// so a short sample must show structure instead: a quarter zero bytes, or at most half of its
/// bytes distinct (random bytes of that length are nearly all distinct).
fn binary(bytes: &[u8]) -> Option<Other> {
    let sample = bytes.get(..entropy::SAMPLE_BYTES).unwrap_or(bytes);
    let n = sample.len();
    let low = if n >= entropy::MIN_SAMPLE_BYTES {
        !entropy::is_high_entropy(sample)
    } else {
        let zeros = sample.iter().filter(|&&b| b == 0).count();
        let mut seen = [false; 256];
        for &b in sample {
            if let Some(slot) = seen.get_mut(usize::from(b)) {
                *slot = true;
            }
        }
        let distinct = seen.iter().filter(|&&s| s).count();
        n >= 4 && (zeros * 4 >= n || distinct * 2 <= n)
    };
    if !low {
        return None;
    }
    let what = format!(
        "binary data that is not high-entropy ({:.1} bits/byte over {n} bytes)",
        entropy::bits_per_byte(sample)
    );
    let evidence = escape(bytes.get(..48).unwrap_or(bytes), MAX_QUOTE_CHARS);
    Some(Other::new("unknown", &what, evidence, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(bytes: &[u8], side: Side) -> (&'static str, String, bool) {
        let o = recognise(bytes, side).unwrap();
        (o.protocol, o.evidence, o.starttls)
    }

    #[test]
    fn mail_and_file_transfer() {
        assert_eq!(
            rec(b"220 mx.example.com ESMTP Postfix\r\n", Side::Server),
            ("smtp", "220 mx.example.com ESMTP Postfix".into(), false)
        );
        assert_eq!(
            rec(b"EHLO client\r\nSTARTTLS\r\n", Side::Client),
            ("smtp", "EHLO client".into(), true)
        );
        assert_eq!(
            rec(b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", Side::Client).1,
            "AUTH PLAIN <redacted>"
        );
        assert_eq!(rec(b"220 (vsFTPd 3.0.3)\r\n", Side::Server).0, "ftp");
        assert_eq!(
            rec(b"AUTH TLS\r\n", Side::Client),
            ("ftp", "AUTH TLS".into(), true)
        );
        assert_eq!(rec(b"AUTH GSSAPI\r\n", Side::Client).0, "ftp");
        let user = recognise(b"USER bob\r\n", Side::Client).unwrap();
        assert!(user.weak);
        assert_eq!(rec(b"+OK POP3 ready\r\n", Side::Server).0, "pop3");
        assert_eq!(
            rec(b"* OK [CAPABILITY IMAP4rev1] ready\r\n", Side::Server).0,
            "imap"
        );
        assert_eq!(
            rec(b"a1 STARTTLS\r\n", Side::Client),
            ("imap", "a1 STARTTLS".into(), true)
        );
        assert_eq!(
            rec(b"a1 LOGIN bob hunter2\r\n", Side::Client).1,
            "a1 LOGIN <redacted>"
        );
    }

    #[test]
    fn redis_never_quotes_arguments() {
        assert_eq!(
            rec(b"*2\r\n$4\r\nAUTH\r\n$7\r\nhunter2\r\n", Side::Client),
            ("redis", "AUTH with 1 argument".into(), false)
        );
        assert_eq!(
            rec(b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n", Side::Client).1,
            "SET with 2 arguments"
        );
        assert_eq!(
            rec(b"PING\r\n", Side::Client),
            ("redis", "PING".into(), false)
        );
    }

    #[test]
    fn databases() {
        let startup = b"\x00\x00\x00\x55\x00\x03\x00\x00user\x00rep\x00database\x00replication\x00replication\x00true\x00application_name\x00walreceiver\x00\x00";
        assert_eq!(
            rec(startup, Side::Client),
            (
                "postgresql",
                "StartupMessage v3.0 user=rep database=replication application_name=walreceiver"
                    .into(),
                false
            )
        );
        assert_eq!(
            rec(b"\x00\x00\x00\x08\x04\xd2\x16\x2f", Side::Client),
            ("postgresql", "SSLRequest".into(), true)
        );
        assert_eq!(
            rec(b"R\x00\x00\x00\x08\x00\x00\x00\x05ab", Side::Server).1,
            "AuthenticationMD5Password"
        );
        assert_eq!(
            rec(
                b"E\x00\x00\x00\x20SFATAL\x00C28000\x00Mno entry\x00\x00",
                Side::Server
            )
            .1,
            "ErrorResponse: no entry"
        );
        let mut greeting = vec![0x4a, 0, 0, 0, 10];
        greeting.extend_from_slice(b"8.0.28\x00");
        greeting.extend_from_slice(&[0x11; 70]);
        assert_eq!(
            rec(&greeting, Side::Server),
            (
                "mysql",
                "MySQL greeting, server version 8.0.28".into(),
                false
            )
        );
        let mut op_msg = Vec::new();
        op_msg.extend_from_slice(&60u32.to_le_bytes());
        op_msg.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        op_msg.extend_from_slice(&2013u32.to_le_bytes());
        op_msg.extend_from_slice(&[0, 0, 0, 0, 0, 30, 0, 0, 0, 0x10]);
        op_msg.extend_from_slice(b"hello\x00\x01\x00\x00\x00");
        assert_eq!(
            rec(&op_msg, Side::Client),
            ("mongodb", "OP_MSG hello".into(), false)
        );
    }

    #[test]
    fn message_brokers() {
        assert_eq!(rec(b"AMQP\x00\x00\x09\x01", Side::Client).0, "amqp");
        assert_eq!(
            rec(b"\x10\x16\x00\x04MQTT\x04\x02\x00\x3c", Side::Client).0,
            "mqtt"
        );
        assert_eq!(
            rec(b"INFO {\"server_id\":\"x\"}\r\n", Side::Server).0,
            "nats"
        );
    }

    #[test]
    fn proxies_and_xmpp() {
        let mut socks4 = hex::decode("040101bb5db8d87700").unwrap();
        assert_eq!(
            rec(&socks4, Side::Client),
            ("socks", "SOCKS4 CONNECT 93.184.216.119:443".into(), false)
        );
        socks4.extend_from_slice(&[0x16, 0x03, 0x01, 0x00, 0x73, 0x01]);
        assert!(rec(&socks4, Side::Client).2);
        assert_eq!(
            rec(
                b"\x04\x01\x00\x50\x00\x00\x00\x01bob\x00example.com\x00",
                Side::Client
            )
            .1,
            "SOCKS4a CONNECT example.com:80"
        );
        assert_eq!(rec(&[5, 2, 0, 1], Side::Client).1, "SOCKS5 greeting");
        let socks5 = hex::decode("05020001050100015db8d87701bb160301").unwrap();
        assert_eq!(
            rec(&socks5, Side::Client),
            ("socks", "SOCKS5 CONNECT 93.184.216.119:443".into(), true)
        );
        let by_name = b"\x05\x01\x00\x05\x01\x00\x03\x0bexample.com\x01\xbb";
        assert_eq!(
            rec(by_name, Side::Client).1,
            "SOCKS5 CONNECT example.com:443"
        );
        let xml =
            b"<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>\
            <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
        let o = recognise(xml, Side::Client).unwrap();
        assert_eq!((o.protocol, o.starttls), ("xmpp", true));
    }

    #[test]
    fn generic_text_and_json() {
        assert_eq!(
            rec(
                b"\r\n{\"amfStatusUri\":\"http://127.0.0.1:29507/cb\",\"token\":1}\n",
                Side::Client
            ),
            (
                "unknown",
                "{\"amfStatusUri\":\"http://127.0.0.1:29507/cb\",\"token\":1}".into(),
                false
            )
        );
        let long = "x".repeat(500);
        assert_eq!(
            rec(long.as_bytes(), Side::Server).1.chars().count(),
            MAX_QUOTE_CHARS
        );
        assert_eq!(
            rec("héllo wörld\n".as_bytes(), Side::Server).1,
            "héllo wörld"
        );
    }

    #[test]
    fn binary_low_entropy_and_random() {
        let mut x11 = Vec::new();
        for i in 0u8..40 {
            x11.extend_from_slice(&[0x35, 0x18, 0x04, 0x00, i, 0x7f, 0xf3, 0x02, 0, 0, 0, 0]);
        }
        let o = recognise(&x11, Side::Client).unwrap();
        assert_eq!(o.protocol, "unknown");
        assert!(
            o.evidence
                .starts_with("5\\x18\\x04\\x00\\x00\\x7f\\xf3\\x02"),
            "{}",
            o.evidence
        );
        assert!(
            o.what.starts_with("binary data that is not high-entropy ("),
            "{}",
            o.what
        );
        // Short structured binary.
        assert_eq!(rec(&[0, 0, 0, 5, 1, 0, 0, 0], Side::Client).0, "unknown");
        // Random bytes, long or short: not recognised.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let random: Vec<u8> = (0..600)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        assert!(recognise(&random, Side::Client).is_none());
        assert!(recognise(&random[..40], Side::Client).is_none());
        assert!(recognise(&[1, 2], Side::Client).is_none());
        assert!(recognise(&[], Side::Client).is_none());
    }
}
