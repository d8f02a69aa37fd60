//! Redaction: the report is attached to tickets, so credentials that crossed in the clear are named
//! but never quoted.
//!
//! Header values are replaced by `<redacted>` when the header name is a known credential
//! (`Authorization`, `Cookie`, ...) or contains a word that marks one (`token`, `secret`, ...).
//! Request targets keep their query string (it identifies the request) but lose the userinfo of an
//! absolute URI and the values of query parameters whose names mark a credential
//! (`access_token`, `password`, ...).

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

/// Header names that always carry credentials (compared case-insensitively).
pub(super) const SENSITIVE_NAMES: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
];

/// Words that mark a header or query parameter name as a credential (substring, case-insensitive).
pub(super) const SENSITIVE_WORDS: [&str; 11] = [
    "token",
    "secret",
    "password",
    "passwd",
    "api-key",
    "api_key",
    "apikey",
    "session",
    "cookie",
    "credential",
    "authorization",
];

/// Query parameter names that carry credentials although none of [`SENSITIVE_WORDS`] is in them.
const SENSITIVE_PARAMS: [&str; 7] = ["pwd", "pass", "key", "sig", "signature", "auth", "code"];

/// The header (or HPACK field) `name` carries credentials.
pub fn is_sensitive_header(name: &str) -> bool {
    let name = name.trim();
    SENSITIVE_NAMES.iter().any(|n| name.eq_ignore_ascii_case(n)) || has_sensitive_word(name)
}

fn is_sensitive_param(name: &str) -> bool {
    SENSITIVE_PARAMS
        .iter()
        .any(|p| name.eq_ignore_ascii_case(p))
        || has_sensitive_word(name)
}

/// `name` contains one of [`SENSITIVE_WORDS`], ignoring ASCII case: the same answer as
/// lowercasing it with `to_ascii_lowercase` and calling `contains` for each word, without the
/// lowercase copy (ASCII lowercasing keeps every byte in place, and a non-ASCII byte only matches
/// itself). One pass over the name: only a position whose byte may start a word is compared.
fn has_sensitive_word(name: &str) -> bool {
    let bytes = name.as_bytes();
    (0..bytes.len()).any(|i| {
        let rest = bytes.get(i..).unwrap_or_default();
        rest.first()
            .is_some_and(|&b| initial_bit(b) & SENSITIVE_WORD_INITIALS != 0)
            && SENSITIVE_WORDS
                .iter()
                .any(|w| starts_with_ignore_ascii_case(rest, w.as_bytes()))
    })
}

/// The [`initial_bit`]s of the first bytes of [`SENSITIVE_WORDS`].
const SENSITIVE_WORD_INITIALS: u32 = initials(&SENSITIVE_WORDS);

/// A bit standing for byte `b` as the start of a word: one bit per ASCII letter (either case),
/// one shared by every other byte (so a word starting with a non-letter is still compared).
const fn initial_bit(b: u8) -> u32 {
    let lower = b.to_ascii_lowercase();
    if lower.is_ascii_lowercase() {
        1 << (lower - b'a')
    } else {
        1 << 26
    }
}

/// The union of the [`initial_bit`]s of the words' first bytes.
const fn initials(mut words: &[&str]) -> u32 {
    let mut bits = 0;
    while let Some((word, rest)) = words.split_first() {
        if let Some(&first) = word.as_bytes().first() {
            bits |= initial_bit(first);
        }
        words = rest;
    }
    bits
}

/// `bytes` starts with `prefix`, ignoring ASCII case.
fn starts_with_ignore_ascii_case(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// Splits a header line into `(name, value)`; `None` when it is not `token ":" value`.
/// Whitespace before the colon is tolerated (some stacks accept it, so secrets may hide there).
pub(super) fn split_header(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once(':')?;
    let name = name.trim_end();
    let is_token = !name.is_empty() && name.bytes().all(is_token_byte);
    is_token.then_some((name, value))
}

/// A byte allowed in a header name (RFC 9110 `tchar`).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// One line of an HTTP/1.x head (without its line ending), as redaction sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HeadLine<'a> {
    /// A folded continuation of the header above: starts with a space or tab and is not blank.
    Continuation,
    /// A header that carries credentials: only its name may be shown.
    Sensitive(&'a str),
    /// A header that may be quoted: name and value (the value as written, untrimmed).
    Header(&'a str, &'a str),
    /// Anything else: a start line, a blank line, a line that is not `name: value`.
    Other,
}

/// Reads one line of a head. A line that starts with a space or tab is never a header (a header
/// name cannot start with whitespace), whether or not it is a continuation.
pub(super) fn head_line(body: &str) -> HeadLine<'_> {
    if body.starts_with([' ', '\t']) && !body.trim().is_empty() {
        return HeadLine::Continuation;
    }
    match split_header(body) {
        Some((name, _)) if is_sensitive_header(name) => HeadLine::Sensitive(name),
        Some((name, value)) => HeadLine::Header(name, value),
        None => HeadLine::Other,
    }
}

/// A sensitive header line as quoted: its name and [`REDACTED`].
pub(super) fn redacted_header(name: &str) -> String {
    format!("{name}: {REDACTED}")
}

/// Whether a first line of a head that parses as a credential header (`X-TOKEN :a HTTP/1.1` is
/// a request line with an unknown method, and also splits as a header) names a credential: only
/// when it reads like a header (has `": "`) or cannot be a request line (has no space).
pub(super) fn first_line_names_credential(line: &str) -> bool {
    line.contains(": ") || !line.contains(' ')
}

/// Adds `name` to the credential header names unless it is there already (compared
/// case-insensitively; the first spelling seen is kept).
pub(super) fn note_credential(names: &mut Vec<String>, name: &str) {
    if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
        names.push(name.to_string());
    }
}

/// Redacts an HTTP/1.x head (request or status line, then header lines), as far as it goes:
/// the text may be cut anywhere, even inside a header, and still never shows a secret.
///
/// Line endings are kept. A folded continuation line (starting with a space or tab) belongs to
/// the header above it and is dropped when that header is redacted. The first line's request
/// target goes through [`redact_target`] (unless the first line names a credential header: then
/// it is redacted whole).
pub fn redact_http_head(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_sensitive = false;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let body = raw.trim_end_matches(['\r', '\n']);
        let ending = raw.get(body.len()..).unwrap_or_default();
        match head_line(body) {
            HeadLine::Sensitive(name) => {
                in_sensitive = true;
                out.push_str(&redacted_header(name));
                out.push_str(ending);
            }
            // The start line, even when it also splits as an ordinary header
            // (`GET :x?token=t HTTP/1.1`): its request target is redacted.
            HeadLine::Header(..) | HeadLine::Continuation | HeadLine::Other if i == 0 => {
                out.push_str(&redact_start_line(body));
                out.push_str(ending);
            }
            HeadLine::Continuation => {
                if !in_sensitive {
                    out.push_str(raw);
                }
            }
            HeadLine::Header(..) | HeadLine::Other => {
                in_sensitive = false;
                out.push_str(raw);
            }
        }
    }
    out
}

/// The names of credential-carrying headers in an HTTP/1.x head, in order, each once
/// (compared case-insensitively, spelled as first seen). The start line is not a header.
pub fn has_credentials(head: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (i, line) in head.split('\n').enumerate() {
        let line = line.trim_end_matches('\r');
        if let HeadLine::Sensitive(name) = head_line(line) {
            if i > 0 || first_line_names_credential(line) {
                note_credential(&mut names, name);
            }
        }
    }
    names
}

/// Redacts a request line (`METHOD target VERSION`); other start lines are returned unchanged.
pub(super) fn redact_start_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut parts = line.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(method), Some(target), rest) if !line.starts_with("HTTP/") => {
            out.push_str(method);
            out.push(' ');
            push_redacted_target(&mut out, target);
            if let Some(rest) = rest {
                out.push(' ');
                out.push_str(rest);
            }
        }
        _ => out.push_str(line),
    }
    out
}

/// Redacts a request target or URI: the userinfo of an absolute URI (`http://user:pass@host/`
/// becomes `http://<redacted>@host/`) and the values of credential query parameters
/// (`?access_token=abc&u=normal` becomes `?access_token=<redacted>&u=normal`). The rest of the
/// query string is kept: it identifies the request.
pub fn redact_target(target: &str) -> String {
    let mut out = String::with_capacity(target.len());
    push_redacted_target(&mut out, target);
    out
}

/// Appends `target` to `out`, redacted as [`redact_target`] says.
fn push_redacted_target(out: &mut String, target: &str) {
    let (before_query, query) = match target.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (target, None),
    };
    push_redacted_userinfo(out, before_query);
    if let Some(query) = query {
        out.push('?');
        let (query, fragment) = match query.split_once('#') {
            Some((q, f)) => (q, Some(f)),
            None => (query, None),
        };
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((name, value)) if is_sensitive_param(name) && !value.is_empty() => {
                    out.push_str(name);
                    out.push('=');
                    out.push_str(REDACTED);
                }
                _ => out.push_str(pair),
            }
        }
        if let Some(fragment) = fragment {
            out.push('#');
            out.push_str(fragment);
        }
    }
}

/// `scheme://user:pass@host/path` -> `scheme://<redacted>@host/path`. Also covers an
/// authority-form target (`user:pass@host:443`, as in CONNECT).
fn redact_userinfo(uri: &str) -> String {
    let mut out = String::with_capacity(uri.len());
    push_redacted_userinfo(&mut out, uri);
    out
}

/// Appends `uri` to `out`, redacted as [`redact_userinfo`] says.
fn push_redacted_userinfo(out: &mut String, uri: &str) {
    let (prefix, rest) = match find_scheme_end(uri) {
        Some(i) => uri.split_at(i),
        None if !uri.starts_with('/') => ("", uri),
        None => {
            out.push_str(uri);
            return;
        }
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => {
            out.push_str(prefix);
            out.push_str(REDACTED);
            out.push_str(authority.get(at..).unwrap_or_default());
            out.push_str(path);
        }
        None => out.push_str(uri),
    }
}

/// Offset just past the first `://` in `uri` (a byte search: no substring searcher to set up).
fn find_scheme_end(uri: &str) -> Option<usize> {
    uri.as_bytes()
        .windows(3)
        .position(|w| w == b"://")
        .map(|i| i + 3)
}

/// Commands of text protocols whose arguments are credentials (SMTP/POP3 `AUTH`, `PASS`, FTP
/// `PASS`/`ACCT`, IMAP `LOGIN`/`AUTHENTICATE` after a tag, Redis inline `AUTH`).
const SECRET_COMMANDS: [&str; 5] = ["PASS", "AUTH", "ACCT", "LOGIN", "AUTHENTICATE"];

/// Redacts one line of a text protocol for quoting: header-like lines go through header
/// redaction; a command that carries credentials keeps its name and loses its arguments.
pub fn redact_text_line(line: &str) -> String {
    if let Some((name, _)) = split_header(line) {
        if is_sensitive_header(name) {
            return format!("{name}: {REDACTED}");
        }
    }
    let words: Vec<&str> = line.split(' ').collect();
    // `PASS x`, or `a001 LOGIN user pass` (IMAP, with a tag first).
    for (i, word) in words.iter().enumerate().take(2) {
        if !SECRET_COMMANDS.iter().any(|c| word.eq_ignore_ascii_case(c)) || words.len() <= i + 1 {
            continue;
        }
        // `AUTH PLAIN <secret>` keeps its mechanism name; `AUTH TLS` has no secret at all.
        let mut keep = i + 1;
        let is_auth =
            word.eq_ignore_ascii_case("AUTH") || word.eq_ignore_ascii_case("AUTHENTICATE");
        if is_auth && words.get(i + 1).is_some_and(|m| is_mechanism(m)) {
            keep = i + 2;
        }
        let kept = words.get(..keep).unwrap_or(&words).join(" ");
        return if words.len() > keep {
            format!("{kept} {REDACTED}")
        } else {
            kept
        };
    }
    if line.contains("://") {
        return redact_userinfo_in_text(line);
    }
    line.to_string()
}

/// A SASL mechanism or security name (`PLAIN`, `SCRAM-SHA-256`, `TLS`, `GSSAPI`).
fn is_mechanism(word: &str) -> bool {
    (2..=20).contains(&word.len())
        && word
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Redacts `scheme://user:pass@` anywhere in free text.
fn redact_userinfo_in_text(line: &str) -> String {
    line.split(' ')
        .map(|word| match word.find("://") {
            Some(_) => redact_userinfo(word),
            None => word.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credential_headers_and_keeps_the_rest() {
        let head = "GET /productpage?u=normal HTTP/1.1\r\nHost: productpage:9080\r\n\
            Authorization: Bearer eyJhbGciOi.secret\r\nCookie: session=abc123\r\n\
            User-Agent: curl/7.81.0\r\nX-Api-Key: k-123\r\nX-Auth-Token: t-456\r\n\
            Proxy-Authorization: Basic dXNlcjpwYXNz\r\n\r\n";
        assert_eq!(
            redact_http_head(head),
            "GET /productpage?u=normal HTTP/1.1\r\nHost: productpage:9080\r\n\
            Authorization: <redacted>\r\nCookie: <redacted>\r\nUser-Agent: curl/7.81.0\r\n\
            X-Api-Key: <redacted>\r\nX-Auth-Token: <redacted>\r\n\
            Proxy-Authorization: <redacted>\r\n\r\n"
        );
        assert_eq!(
            has_credentials(head),
            [
                "Authorization",
                "Cookie",
                "X-Api-Key",
                "X-Auth-Token",
                "Proxy-Authorization"
            ]
        );
    }

    #[test]
    fn matches_names_by_word_and_case() {
        let head = "POST /login HTTP/1.1\nx-CSRF-TOKEN: a1\nX-Client-Secret: s\n\
            x-api-KEY: k\nX-Session-Id: 77\nX-Db-Password: hunter2\nSec-Fetch-Mode: cors\nAUTHORIZATION: x\n";
        let red = redact_http_head(head);
        for secret in ["a1", "hunter2", ": s\n", ": k\n", "77", ": x\n"] {
            assert!(!red.contains(secret), "{secret:?} in {red}");
        }
        assert!(red.contains("Sec-Fetch-Mode: cors\n"));
        assert_eq!(
            has_credentials(head),
            [
                "x-CSRF-TOKEN",
                "X-Client-Secret",
                "x-api-KEY",
                "X-Session-Id",
                "X-Db-Password",
                "AUTHORIZATION"
            ]
        );
    }

    #[test]
    fn sensitive_words_are_found_in_any_case_and_place() {
        // The same answers as lowercasing the name and searching it for each word.
        let by_lowercase = |name: &str| {
            let lower = name.trim().to_ascii_lowercase();
            SENSITIVE_NAMES.contains(&lower.as_str())
                || SENSITIVE_WORDS.iter().any(|w| lower.contains(w))
        };
        for name in [
            "Host",
            "X-Goog-Api-KEY",
            "x-upstream-sessionid",
            "MyToken",
            "tokenizer-version",
            "TOKE",
            "Cookie2",
            " cookie ",
            "X-Passwd-Hint",
            "X-SECRETS",
            "credentials-ref",
            "Proxy-Authorization",
            "proxy-authorizatio",
            "x-auth-token",
            "Caf\u{e9}-Token",
            "t\u{f6}ken",
            "",
            "ApiKey",
            "api.key",
        ] {
            assert_eq!(is_sensitive_header(name), by_lowercase(name), "{name:?}");
        }
        assert!(is_sensitive_param("ACCESS_TOKEN") && is_sensitive_param("Sig"));
        assert!(!is_sensitive_param("state") && !is_sensitive_param("keys"));
    }

    #[test]
    fn word_initials_cover_every_word() {
        for w in SENSITIVE_WORDS {
            let first = w.as_bytes()[0];
            assert_ne!(initial_bit(first) & SENSITIVE_WORD_INITIALS, 0, "{w}");
            assert_ne!(
                initial_bit(first.to_ascii_uppercase()) & SENSITIVE_WORD_INITIALS,
                0
            );
        }
        // A byte that starts no word is skipped.
        assert_eq!(initial_bit(b'h') & SENSITIVE_WORD_INITIALS, 0);
        assert_eq!(initial_bit(b'-') & SENSITIVE_WORD_INITIALS, 0);
    }

    #[test]
    fn folded_continuation_of_a_secret_is_dropped() {
        let head =
            "GET / HTTP/1.1\r\nCookie: a=1;\r\n b=2;\r\n\tc=3\r\nX-Note: one\r\n two\r\n\r\n";
        assert_eq!(
            redact_http_head(head),
            "GET / HTTP/1.1\r\nCookie: <redacted>\r\nX-Note: one\r\n two\r\n\r\n"
        );
    }

    #[test]
    fn head_cut_inside_a_header_shows_no_secret() {
        for cut in [
            "Authorization: Basic dXNl",
            "Authorization:Basic",
            "authorization :  tok",
            "Cookie: a",
        ] {
            let head = format!("GET / HTTP/1.1\r\nHost: h\r\n{cut}");
            let red = redact_http_head(&head);
            assert!(red.ends_with(REDACTED), "{red}");
        }
        // Cut inside the name: nothing secret was captured, nothing to hide.
        assert_eq!(
            redact_http_head("GET / HTTP/1.1\r\nAuthoriz"),
            "GET / HTTP/1.1\r\nAuthoriz"
        );
    }

    #[test]
    fn response_set_cookie_is_redacted() {
        let head = "HTTP/1.1 200 OK\r\nSet-Cookie: sid=s3cr3t; HttpOnly\r\nset-cookie: b=2\r\nServer: envoy\r\n\r\n";
        assert_eq!(
            redact_http_head(head),
            "HTTP/1.1 200 OK\r\nSet-Cookie: <redacted>\r\nset-cookie: <redacted>\r\nServer: envoy\r\n\r\n"
        );
        assert_eq!(has_credentials(head), ["Set-Cookie"]);
    }

    #[test]
    fn userinfo_and_secret_parameters_in_targets() {
        assert_eq!(
            redact_target("/productpage?u=normal"),
            "/productpage?u=normal"
        );
        assert_eq!(
            redact_target("http://alice:wonder@example.com:8080/a?b=c"),
            "http://<redacted>@example.com:8080/a?b=c"
        );
        assert_eq!(
            redact_target("user:pw@proxy.example:443"),
            "<redacted>@proxy.example:443"
        );
        assert_eq!(redact_target("example.com:443"), "example.com:443");
        assert_eq!(
            redact_target("/cb?access_token=abc&state=1&password=p&key=&x=y#frag"),
            "/cb?access_token=<redacted>&state=1&password=<redacted>&key=&x=y#frag"
        );
        assert_eq!(
            redact_http_head("GET http://u:p@h/x?api_key=1 HTTP/1.1\r\n"),
            "GET http://<redacted>@h/x?api_key=<redacted> HTTP/1.1\r\n"
        );
        // An '@' in the path is not userinfo.
        assert_eq!(redact_target("/users/@me"), "/users/@me");
        assert_eq!(redact_target("http://h/users/@me"), "http://h/users/@me");
    }

    #[test]
    fn request_line_that_also_splits_as_a_header_is_still_redacted() {
        // "GET :x?token=t HTTP/1.1" splits as a header named GET: it is a request line all the
        // same, and its target's secret must not be quoted.
        assert_eq!(
            redact_http_head("GET :x?token=t HTTP/1.1\r\nHost: h\r\n"),
            "GET :x?token=<redacted> HTTP/1.1\r\nHost: h\r\n"
        );
        // A first line that names a credential header is redacted whole.
        assert_eq!(
            redact_http_head("X-TOKEN :a HTTP/1.1\r\n"),
            "X-TOKEN: <redacted>\r\n"
        );
    }

    #[test]
    fn text_protocol_credentials() {
        assert_eq!(redact_text_line("PASS hunter2"), "PASS <redacted>");
        assert_eq!(redact_text_line("USER anonymous"), "USER anonymous");
        assert_eq!(
            redact_text_line("AUTH PLAIN AGFsaWNlAHNlY3JldA=="),
            "AUTH PLAIN <redacted>"
        );
        assert_eq!(redact_text_line("AUTH TLS"), "AUTH TLS");
        assert_eq!(redact_text_line("AUTH dXNlcjpwYXNz"), "AUTH <redacted>");
        assert_eq!(
            redact_text_line("a2 AUTHENTICATE PLAIN"),
            "a2 AUTHENTICATE PLAIN"
        );
        assert_eq!(
            redact_text_line("a001 login alice secret"),
            "a001 login <redacted>"
        );
        assert_eq!(redact_text_line("Cookie: x=1"), "Cookie: <redacted>");
        assert_eq!(
            redact_text_line("see redis://u:p@cache:6379/0"),
            "see redis://<redacted>@cache:6379/0"
        );
        assert_eq!(
            redact_text_line("EHLO client.example"),
            "EHLO client.example"
        );
        assert_eq!(redact_text_line("AUTH"), "AUTH");
    }
}
