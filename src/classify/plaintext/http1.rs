//! HTTP/1.x: request and status lines, and the head (headers) that follows them.

use super::escape::{escape, first_line, truncate};
use super::redact::{self, has_credentials, redact_http_head, redact_target, split_header};

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
pub fn parse(bytes: &[u8]) -> Option<Head> {
    let start = parse_start_line(first_line(bytes))?;
    let window = bytes.get(..MAX_HEAD).unwrap_or(bytes);
    let end = find_head_end(window);
    let head_bytes = end.and_then(|e| window.get(..e)).unwrap_or(window);

    // Escape each raw line separately so that escaping never merges or splits lines.
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
            && !redact::is_sensitive_header(name)
            && !headers
                .iter()
                .any(|(n, _): &(String, String)| n.eq_ignore_ascii_case(name))
        {
            headers.push((name.to_string(), truncate(value, MAX_VALUE_CHARS)));
        }
    }

    let first = redacted.lines().next().unwrap_or_default();
    let version = first.rsplit(' ').next().unwrap_or_default();
    let status_version = first.split(' ').next().unwrap_or_default();
    let protocol = match &start {
        StartLine::Request { .. } if version == "HTTP/1.0" => "http/1.0",
        StartLine::Status { .. } if status_version == "HTTP/1.0" => "http/1.0",
        _ => "http/1.1",
    };
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

/// Cuts a long start line inside its target, keeping the method and the version visible.
fn truncate_line(line: &str) -> String {
    if line.chars().count() <= MAX_LINE_CHARS {
        return line.to_string();
    }
    let parts: Vec<&str> = line.splitn(3, ' ').collect();
    if let [method, target, version] = parts.as_slice() {
        if version.starts_with("HTTP/") {
            let room =
                MAX_LINE_CHARS.saturating_sub(method.chars().count() + version.chars().count() + 2);
            return format!("{method} {} {version}", truncate(target, room.max(2)));
        }
    }
    truncate(line, MAX_LINE_CHARS)
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
        target: redact_target(&escape(target, MAX_HEAD)),
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
    fn cut_off_head_has_no_end() {
        let head = parse(b"POST /login HTTP/1.1\r\nCookie: sid=abc").unwrap();
        assert_eq!(head.end, None);
        assert_eq!(head.credentials, ["Cookie"]);
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
