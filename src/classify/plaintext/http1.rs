//! HTTP/1.x: request and status lines, and the head (headers) that follows them.

use std::borrow::Cow;

use super::escape::{escape_cow, first_line, truncate};
use super::redact::{
    self, head_line, note_credential, redact_start_line, redact_target, redacted_header, HeadLine,
};

/// Methods recognised from the first bytes alone (RFC 9110, WebDAV and its extensions, and a few
/// common extensions). `PRI` is the HTTP/2 preface, not a method.
pub const METHODS: [&str; 41] = [
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "CONNECT",
    "OPTIONS",
    "TRACE",
    "PATCH",
    "QUERY",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "SEARCH",
    "REPORT",
    "MKACTIVITY",
    "CHECKOUT",
    "CHECKIN",
    "UNCHECKOUT",
    "MERGE",
    "MKWORKSPACE",
    "VERSION-CONTROL",
    "BASELINE-CONTROL",
    "MKREDIRECTREF",
    "UPDATEREDIRECTREF",
    "ORDERPATCH",
    "ACL",
    "BIND",
    "UNBIND",
    "REBIND",
    "LINK",
    "UNLINK",
    "MKCALENDAR",
    "LABEL",
    "UPDATE",
    "PURGE",
    "M-SEARCH",
];

/// Longest head that is parsed; what follows is not needed to quote or redact it.
pub const MAX_HEAD: usize = 16 * 1024;
/// Longest quoted start line, in characters.
pub const MAX_LINE_CHARS: usize = 160;
/// Longest quoted header value, in characters.
const MAX_VALUE_CHARS: usize = 80;
/// Headers worth showing a reviewer (never credentials).
const SAMPLE_HEADERS: [&str; 6] = [
    "host",
    "user-agent",
    "content-type",
    "upgrade",
    "server",
    "via",
];

/// The bytes start with a known method and a space.
pub fn starts_with_method(bytes: &[u8]) -> bool {
    METHODS.iter().any(|m| {
        bytes.len() > m.len()
            && bytes.starts_with(m.as_bytes())
            && bytes.get(m.len()) == Some(&b' ')
    })
}

/// The bytes start with a status line `HTTP/1.x NNN`.
pub fn starts_with_status(bytes: &[u8]) -> bool {
    matches!(bytes, [b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'0'..=b'9', b' ', d1, d2, d3, ..]
        if d1.is_ascii_digit() && d2.is_ascii_digit() && d3.is_ascii_digit())
}

/// What kind of start line a head has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: String, target: String },
    Status { code: u16 },
}

/// A parsed HTTP/1.x head, already redacted for quoting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub start: StartLine,
    /// `http/1.0` or `http/1.1` (the latter also when the version was cut off).
    pub protocol: &'static str,
    /// The redacted start line, e.g. `GET /productpage?u=normal HTTP/1.1`.
    pub line: String,
    /// Redacted sample headers: Host, User-Agent, Content-Type, Upgrade, Server, Via.
    pub headers: Vec<(String, String)>,
    /// Names of credential headers seen.
    pub credentials: Vec<String>,
    /// The `Upgrade` header names h2c.
    pub upgrade_h2c: bool,
    /// Stream offset just past the blank line ending the head (`None`: the head is cut off).
    pub end: Option<usize>,
}

/// Parses the head at the start of `bytes` if it begins with a request or status line.
///
/// One pass over the head's lines, up to the blank line that ends it (or the end of the first
/// [`MAX_HEAD`] bytes): each line is escaped on its own (so that escaping never merges or splits
/// lines; a line of plain printable ASCII is borrowed as it is), then read once for redaction,
/// credential names and sample headers.
pub fn parse(bytes: &[u8]) -> Option<Head> {
    let start = parse_start_line(first_line(bytes))?;
    let window = bytes.get(..MAX_HEAD).unwrap_or(bytes);
    let mut lines = lines_with_ends(window);

    let first_text = lines
        .next()
        .map(|(line, _)| escaped_line(line))
        .unwrap_or_default();
    let mut credentials = Vec::new();
    let first = redact_first_line(&first_text, &mut credentials);

    let mut headers = Vec::new();
    let mut upgrade_h2c = false;
    let mut end = None;
    for (line, next) in lines {
        // `\r\n\r\n` or `\n\n`: the head ends just past the blank line.
        if matches!(line, b"" | b"\r") && next.is_some() {
            end = next;
            break;
        }
        match head_line(&escaped_line(line)) {
            HeadLine::Sensitive(name) => note_credential(&mut credentials, name),
            HeadLine::Header(name, value) => {
                let value = value.trim();
                upgrade_h2c |= offers_h2c(name, value);
                // Sample headers are never sensitive: a `Header` line is not a credential.
                if SAMPLE_HEADERS.iter().any(|s| name.eq_ignore_ascii_case(s))
                    && !headers
                        .iter()
                        .any(|(n, _): &(String, String)| n.eq_ignore_ascii_case(name))
                {
                    headers.push((name.to_string(), truncate(value, MAX_VALUE_CHARS)));
                }
            }
            // A continuation is never a header (a name cannot start with whitespace), and only the
            // start line is quoted: whether a continuation of a secret would be dropped from a
            // redacted head does not matter here.
            HeadLine::Continuation | HeadLine::Other => {}
        }
    }

    let protocol = protocol_of(&start, &first);
    Some(Head {
        line: truncate_line(first),
        start,
        protocol,
        headers,
        credentials,
        upgrade_h2c,
        end,
    })
}

/// The escaped first line of a head as quoted, redacted as [`redact::redact_http_head`] does: a
/// request line with its target redacted, a status line unchanged. The line was recognised as a
/// start line, so one that also splits as an ordinary header (`GET :x?token=t HTTP/1.1`) is
/// still a request line and its target is redacted; one that splits as a credential header
/// (`X-TOKEN :a HTTP/1.1`) is redacted whole. A credential header it names is added to
/// `credentials` (see [`redact::first_line_names_credential`]).
fn redact_first_line<'a>(text: &'a str, credentials: &mut Vec<String>) -> Cow<'a, str> {
    match head_line(text) {
        HeadLine::Sensitive(name) => {
            if redact::first_line_names_credential(text) {
                note_credential(credentials, name);
            }
            Cow::Owned(redacted_header(name))
        }
        HeadLine::Header(..) | HeadLine::Continuation | HeadLine::Other => {
            Cow::Owned(redact_start_line(text))
        }
    }
}

/// `http/1.0` when the start line (as quoted) names HTTP/1.0 where its kind puts the version
/// (last in a request line, first in a status line), else `http/1.1`.
fn protocol_of(start: &StartLine, first: &str) -> &'static str {
    let version = match start {
        StartLine::Request { .. } => first.rsplit(' ').next(),
        StartLine::Status { .. } => first.split(' ').next(),
    };
    if version == Some("HTTP/1.0") {
        "http/1.0"
    } else {
        "http/1.1"
    }
}

/// An `Upgrade` header whose comma-separated list names h2c.
fn offers_h2c(name: &str, value: &str) -> bool {
    name.eq_ignore_ascii_case("upgrade")
        && value
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("h2c"))
}

/// Cuts a long start line inside its target, keeping the method and the version visible. A
/// line that fits is returned as it is (moved, not copied, when it is already owned).
fn truncate_line(line: Cow<'_, str>) -> String {
    if line.chars().count() <= MAX_LINE_CHARS {
        return line.into_owned();
    }
    let parts: Vec<&str> = line.splitn(3, ' ').collect();
    if let [method, target, version] = parts.as_slice() {
        if version.starts_with("HTTP/") {
            let room =
                MAX_LINE_CHARS.saturating_sub(method.chars().count() + version.chars().count() + 2);
            return format!("{method} {} {version}", truncate(target, room.max(2)));
        }
    }
    truncate(&line, MAX_LINE_CHARS)
}

/// The lines of `bytes`, each without its `\n` (a `\r` before it is kept), with the offset just
/// past that `\n` (`None` for a last line that has none).
fn lines_with_ends(bytes: &[u8]) -> impl Iterator<Item = (&[u8], Option<usize>)> {
    let mut offset = 0;
    bytes.split_inclusive(|&b| b == b'\n').map(move |piece| {
        offset += piece.len();
        match piece.strip_suffix(b"\n") {
            Some(line) => (line, Some(offset)),
            None => (piece, None),
        }
    })
}

/// A head line as quoted: without its `\r`, escaped on its own.
fn escaped_line(line: &[u8]) -> Cow<'_, str> {
    escape_cow(line.strip_suffix(b"\r").unwrap_or(line), MAX_HEAD)
}

fn parse_start_line(line: &[u8]) -> Option<StartLine> {
    if starts_with_status(line) {
        let code = std::str::from_utf8(line.get(9..12)?).ok()?.parse().ok()?;
        return Some(StartLine::Status { code });
    }
    let sp = line.iter().position(|&b| b == b' ')?;
    let (method, rest) = line.split_at_checked(sp)?;
    let method = std::str::from_utf8(method).ok()?;
    let known = METHODS.contains(&method);
    let rest = rest.get(1..)?;
    let (target, version) = match rest.iter().rposition(|&b| b == b' ') {
        Some(p) => {
            let (target, version) = rest.split_at_checked(p)?;
            (target, version.get(1..))
        }
        None => (rest, None),
    };
    let version_ok = matches!(
        version,
        Some([b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'0'..=b'9'])
    );
    // A known method may be cut before its version; an unknown token needs the full line.
    let token = !method.is_empty()
        && method.len() <= 24
        && method != "PRI"
        && method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_');
    if !(token && (version_ok || (known && version.is_none()))) || target.is_empty() {
        return None;
    }
    if target.iter().any(|&b| b <= b' ') && !version_ok {
        return None;
    }
    Some(StartLine::Request {
        method: method.to_string(),
        target: redact_target(&escape_cow(target, MAX_HEAD)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_line_and_sample_headers() {
        let head = parse(
            b"GET /productpage?u=normal HTTP/1.1\r\nHost: productpage:9080\r\nuser-agent: curl/7.81.0\r\n\
              Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l\r\nAccept: */*\r\n\r\nbody",
        )
        .unwrap();
        assert_eq!(head.line, "GET /productpage?u=normal HTTP/1.1");
        assert_eq!(head.protocol, "http/1.1");
        assert_eq!(
            head.start,
            StartLine::Request {
                method: "GET".into(),
                target: "/productpage?u=normal".into()
            }
        );
        assert_eq!(
            head.headers,
            [
                ("Host".to_string(), "productpage:9080".to_string()),
                ("user-agent".into(), "curl/7.81.0".into())
            ]
        );
        assert_eq!(head.credentials, ["Authorization"]);
        assert_eq!(head.end, Some(147));
        assert!(!head.upgrade_h2c);
    }

    #[test]
    fn status_line_and_version() {
        let head =
            parse(b"HTTP/1.0 404 Not Found\r\nServer: SimpleHTTP/0.6\r\nSet-Cookie: a=b\r\n\r\n")
                .unwrap();
        assert_eq!(head.line, "HTTP/1.0 404 Not Found");
        assert_eq!(head.protocol, "http/1.0");
        assert_eq!(head.start, StartLine::Status { code: 404 });
        assert_eq!(head.credentials, ["Set-Cookie"]);
        assert_eq!(
            head.headers,
            [("Server".to_string(), "SimpleHTTP/0.6".to_string())]
        );
    }

    #[test]
    fn webdav_and_unknown_methods() {
        assert_eq!(
            parse(b"PROPFIND /dav/ HTTP/1.1\r\n").unwrap().line,
            "PROPFIND /dav/ HTTP/1.1"
        );
        assert_eq!(
            parse(b"BREW /pot HTTP/1.1\r\n").unwrap().line,
            "BREW /pot HTTP/1.1"
        );
        // An unknown token needs the version to count.
        assert!(parse(b"BREW /pot").is_none());
        // A known method cut before the version still counts.
        assert_eq!(
            parse(b"GET /very/long/pa").unwrap().line,
            "GET /very/long/pa"
        );
        assert!(parse(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").is_none());
        assert!(parse(b"hello world\r\n").is_none());
        assert!(parse(b"GET").is_none());
        assert!(parse(b"").is_none());
    }

    #[test]
    fn upgrade_h2c_is_seen() {
        let head = parse(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: H2C\r\n\r\n").unwrap();
        assert!(head.upgrade_h2c);
        assert_eq!(head.headers[1], ("Upgrade".to_string(), "H2C".to_string()));
    }

    #[test]
    fn long_targets_keep_method_and_version() {
        let target = "/".to_string() + &"a".repeat(400);
        let line = format!("GET {target} HTTP/1.1\r\n\r\n");
        let head = parse(line.as_bytes()).unwrap();
        assert_eq!(head.line.chars().count(), MAX_LINE_CHARS);
        assert!(head.line.starts_with("GET /aaa"));
        assert!(head.line.ends_with("a… HTTP/1.1"));
    }

    #[test]
    fn binary_in_the_target_is_escaped_and_userinfo_hidden() {
        let head = parse(b"GET http://bob:pw@h/x\x01y HTTP/1.1\n\n").unwrap();
        assert_eq!(head.line, "GET http://<redacted>@h/x\\x01y HTTP/1.1");
        assert_eq!(head.end, Some(34));
    }

    #[test]
    fn a_target_that_makes_the_line_read_as_a_header_is_still_redacted() {
        let h = parse(b"GET :x?token=t HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        assert_eq!(h.line, "GET :x?token=<redacted> HTTP/1.1");
        assert!(h.credentials.is_empty());
    }

    #[test]
    fn cut_off_head_has_no_end() {
        let head = parse(b"POST /login HTTP/1.1\r\nCookie: sid=abc").unwrap();
        assert_eq!(head.end, None);
        assert_eq!(head.credentials, ["Cookie"]);
    }

    /// The multi-pass reading `parse` replaced, kept to check that the one-pass reading gives the
    /// same head: each line escaped into one text, the whole text redacted, credentials read from
    /// the text, sample headers read from the redacted text, names compared through lowercase
    /// copies.
    mod reference {
        use super::super::*;
        use crate::classify::plaintext::escape::escape;
        use crate::classify::plaintext::redact::{
            split_header, REDACTED, SENSITIVE_NAMES, SENSITIVE_WORDS,
        };

        /// The old comparison, through a lowercase copy, over the same lists.
        fn is_sensitive_header(name: &str) -> bool {
            let lower = name.trim().to_ascii_lowercase();
            SENSITIVE_NAMES.contains(&lower.as_str())
                || SENSITIVE_WORDS.iter().any(|w| lower.contains(w))
        }

        fn redact_http_head(text: &str) -> String {
            let mut out = String::new();
            let mut in_sensitive = false;
            for (i, raw) in text.split_inclusive('\n').enumerate() {
                let body = raw.trim_end_matches(['\r', '\n']);
                let ending = &raw[body.len()..];
                // The start line, unless it names a credential header (then redacted whole).
                let names_credential =
                    split_header(body).is_some_and(|(name, _)| is_sensitive_header(name));
                if i == 0 && !names_credential {
                    out.push_str(&redact_start_line(body));
                    out.push_str(ending);
                    continue;
                }
                if body.starts_with([' ', '\t']) && !body.trim().is_empty() {
                    if !in_sensitive {
                        out.push_str(raw);
                    }
                    continue;
                }
                match split_header(body) {
                    Some((name, _)) if is_sensitive_header(name) => {
                        in_sensitive = true;
                        out.push_str(&format!("{name}: {REDACTED}{ending}"));
                    }
                    _ => {
                        in_sensitive = false;
                        out.push_str(raw);
                    }
                }
            }
            out
        }

        fn has_credentials(head: &str) -> Vec<String> {
            let mut names: Vec<String> = Vec::new();
            for (i, line) in head.split('\n').enumerate() {
                let line = line.trim_end_matches('\r');
                if line.starts_with([' ', '\t']) {
                    continue;
                }
                let Some((name, _)) = split_header(line) else {
                    continue;
                };
                if i == 0 && !line.contains(": ") && line.contains(' ') {
                    continue;
                }
                if is_sensitive_header(name) && !names.iter().any(|n| n.eq_ignore_ascii_case(name))
                {
                    names.push(name.to_string());
                }
            }
            names
        }

        /// Offset just past `\r\n\r\n` (or `\n\n`), if present.
        fn find_head_end(bytes: &[u8]) -> Option<usize> {
            let mut i = 0;
            while let Some(pos) = bytes.get(i..)?.iter().position(|&b| b == b'\n') {
                let nl = i + pos;
                let rest = bytes.get(nl + 1..)?;
                if rest.starts_with(b"\r\n") {
                    return Some(nl + 3);
                }
                if rest.starts_with(b"\n") {
                    return Some(nl + 2);
                }
                i = nl + 1;
            }
            None
        }

        pub fn parse(bytes: &[u8]) -> Option<Head> {
            let start = parse_start_line(first_line(bytes))?;
            let window = bytes.get(..MAX_HEAD).unwrap_or(bytes);
            let end = find_head_end(window);
            let head_bytes = end.and_then(|e| window.get(..e)).unwrap_or(window);
            let mut text = String::new();
            for line in head_bytes.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                text.push_str(&escape(line, MAX_HEAD));
                text.push('\n');
            }
            let redacted = redact_http_head(&text);
            let credentials = has_credentials(&text);
            let mut headers = Vec::new();
            let mut upgrade_h2c = false;
            for line in redacted.lines().skip(1) {
                let Some((name, value)) = split_header(line) else {
                    continue;
                };
                let value = value.trim();
                let lower = name.to_ascii_lowercase();
                if lower == "upgrade"
                    && value
                        .split(',')
                        .any(|t| t.trim().eq_ignore_ascii_case("h2c"))
                {
                    upgrade_h2c = true;
                }
                if SAMPLE_HEADERS.contains(&lower.as_str())
                    && !is_sensitive_header(name)
                    && !headers
                        .iter()
                        .any(|(n, _): &(String, String)| n.eq_ignore_ascii_case(name))
                {
                    headers.push((name.to_string(), truncate(value, MAX_VALUE_CHARS)));
                }
            }
            let first = redacted.lines().next().unwrap_or_default();
            let protocol = protocol_of(&start, first);
            Some(Head {
                line: truncate_line(first.into()),
                start,
                protocol,
                headers,
                credentials,
                upgrade_h2c,
                end,
            })
        }
    }

    /// Heads built from pieces that exercise every branch of the reading: sensitive and sample
    /// names in any case, folded lines (space, tab, blank), control bytes, backslashes, non-ASCII
    /// text and invalid UTF-8, a start line that also splits as a header, cut heads.
    fn odd_heads() -> Vec<Vec<u8>> {
        let starts: [&[u8]; 8] = [
            b"GET /a?token=x&u=1 HTTP/1.1",
            b"HTTP/1.0 200 OK",
            b"X-TOKEN :a HTTP/1.1",
            b"GET :x?token=t HTTP/1.0",
            b"POST http://u:p@h/\\x\x01 HTTP/1.1",
            b"BREW /pot HTTP/1.1",
            b"GET /caf\xc3\xa9\xff HTTP/1.1",
            b"HTTP/1.1 101 Switching Protocols",
        ];
        let lines: [&[u8]; 24] = [
            b"Host: h",
            b"HOST: second",
            b"user-agent: kube-probe/1.29",
            b"Cookie: a=1",
            b"\tc=3",
            b" b=2",
            b" \xc2\xa0",
            b"   ",
            b"X-Db-Password: hunter2",
            b"authorization : Basic x",
            b"Upgrade: websocket, H2C",
            b"upgrade:h2c",
            b"Content-Type: text/plain\x00\x7f",
            b"Server: caf\xc3\xa9 \xe2\x80\x85",
            b"Via: 1.1 \\proxy\\",
            b"Sec-Fetch-Mode: cors",
            b"X-Note: a\rb",
            b"Bad Header: x",
            b"x-Session-Id: 77",
            b"Set-Cookie: s",
            b"Accept: \xff\xfe",
            b"Via: second",
            b"",
            b"\r",
        ];
        let mut heads = Vec::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for round in 0..600 {
            let mut head = starts[round % starts.len()].to_vec();
            for _ in 0..next(9) {
                head.extend_from_slice(if next(2) == 0 { b"\r\n" } else { b"\n" });
                head.extend_from_slice(lines[next(lines.len())]);
            }
            if next(3) > 0 {
                head.extend_from_slice(b"\r\n\r\nbody: x\r\n");
            }
            heads.push(head);
        }
        heads
    }

    #[test]
    fn one_pass_reading_matches_the_multi_pass_reading() {
        for head in odd_heads() {
            for cut in 0..=head.len() {
                let bytes = &head[..cut];
                assert_eq!(
                    parse(bytes),
                    reference::parse(bytes),
                    "{:?}",
                    String::from_utf8_lossy(bytes)
                );
            }
        }
        // A head longer than the parsed window, and lines that escape past it.
        let mut long = b"GET /x HTTP/1.1\r\nHost: ".to_vec();
        long.extend(std::iter::repeat_n(0x01u8, MAX_HEAD));
        assert_eq!(parse(&long), reference::parse(&long));
        let mut long = b"GET /x HTTP/1.1\r\nHost: ".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_HEAD));
        assert_eq!(parse(&long), reference::parse(&long));
    }

    #[test]
    fn recognises_openers() {
        assert!(starts_with_method(b"GET / HTTP/1.1"));
        assert!(starts_with_method(b"M-SEARCH * HTTP/1.1"));
        assert!(!starts_with_method(b"GETX /"));
        assert!(!starts_with_method(b"PRI * HTTP/2.0"));
        assert!(!starts_with_method(b"GET"));
        assert!(starts_with_status(b"HTTP/1.1 200 OK"));
        assert!(!starts_with_status(b"HTTP/1.1 2x0 OK"));
        assert!(!starts_with_status(b"HTTP/2 200"));
    }
}
