//! The client identity a proxy forwards in cleartext requests: Envoy's (Istio's sidecar)
//! `x-forwarded-client-cert` and Linkerd's `l5d-client-id`.
//!
//! Inside the server pod, the sidecar adds the header to every request it forwards to the
//! application after the client proved its identity with a certificate. Envoy appends one
//! element per hop (`By=…;Hash=…;Subject="…";URI=spiffe://…`), so the last element is the one
//! the nearest proxy wrote; earlier elements come from the client or other hops and prove
//! nothing. These headers carry no secret and are never redacted.
//!
//! Only header fields count: HTTP/1.x requests are walked with `httparse`, their bodies skipped
//! by their framing (Content-Length or chunked), so bytes in a body can never pose as a header.

use crate::model::{ForwardHeader, ForwardedClient};

use super::escape::escape;

/// Requests walked per flow.
const MAX_REQUESTS: usize = 256;
/// Headers read per request.
const MAX_HEADERS: usize = 128;
/// Longest identity kept, in characters.
const MAX_IDENTITY_CHARS: usize = 256;
/// Distinct identities told apart per flow.
const MAX_IDENTITIES: usize = 8;

/// One forwarded identity, at the stream offset of the request that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Forward {
    pub header: ForwardHeader,
    pub identity: String,
    pub by: Option<String>,
    pub offset: usize,
}

/// The forwarded identity a header field names, if it is one of the forwarding headers.
pub(crate) fn from_field(name: &str, value: &[u8], offset: usize) -> Option<Forward> {
    let header = if name.eq_ignore_ascii_case(ForwardHeader::Xfcc.name()) {
        ForwardHeader::Xfcc
    } else if name.eq_ignore_ascii_case(ForwardHeader::L5dClientId.name()) {
        ForwardHeader::L5dClientId
    } else {
        return None;
    };
    let value = std::str::from_utf8(value).ok()?.trim();
    let (identity, by) = match header {
        ForwardHeader::Xfcc => xfcc_identity(value)?,
        ForwardHeader::L5dClientId => (value.to_string(), None),
    };
    let clean = |s: &str| escape(s.as_bytes(), MAX_IDENTITY_CHARS);
    (!identity.is_empty()).then(|| Forward {
        header,
        identity: clean(&identity),
        by: by.as_deref().map(clean),
        offset,
    })
}

/// The client identity and `By` of the last element of an XFCC value: its first `URI`, else its
/// first `DNS`.
fn xfcc_identity(value: &str) -> Option<(String, Option<String>)> {
    let last = split_unquoted(value, ',').into_iter().last()?;
    let (mut uri, mut dns, mut by) = (None, None, None);
    for pair in split_unquoted(last, ';') {
        let Some((key, v)) = pair.split_once('=') else {
            continue;
        };
        let v = unquote(v.trim());
        match key.trim().to_ascii_lowercase().as_str() {
            "uri" if uri.is_none() => uri = Some(v),
            "dns" if dns.is_none() => dns = Some(v),
            "by" if by.is_none() => by = Some(v),
            _ => {}
        }
    }
    Some((uri.or(dns)?, by))
}

/// `text` split at `sep` where it is not inside double quotes (a `\` escapes the next character).
fn split_unquoted(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(text.get(start..i).unwrap_or_default());
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(text.get(start..).unwrap_or_default());
    parts
}

/// A value without its surrounding double quotes and escapes.
fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut escaped = false;
            for c in inner.chars() {
                if !escaped && c == '\\' {
                    escaped = true;
                    continue;
                }
                escaped = false;
                out.push(c);
            }
            out
        }
        None => v.to_string(),
    }
}

/// The forwarded identities of the HTTP/1.x requests at the start of a client's stream, one per
/// request that carries one, walking request after request until the bytes run out or stop
/// being a request with a known body length.
pub(crate) fn http1_requests(bytes: &[u8]) -> Vec<Forward> {
    let mut found = Vec::new();
    let mut at = 0usize;
    for _ in 0..MAX_REQUESTS {
        let Some(rest) = bytes.get(at..).filter(|r| !r.is_empty()) else {
            break;
        };
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(head_len)) = request.parse(rest) else {
            break;
        };
        let mut length: Option<usize> = Some(0);
        let mut chunked = false;
        let mut seen = false;
        for h in request.headers.iter() {
            if !seen {
                if let Some(f) = from_field(h.name, h.value, at) {
                    found.push(f);
                    seen = true;
                }
            }
            if h.name.eq_ignore_ascii_case("content-length") {
                length = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok());
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = h
                    .value
                    .rsplit(|b| *b == b',')
                    .next()
                    .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            }
        }
        let body = rest.get(head_len..).unwrap_or_default();
        let body_len = if chunked {
            chunked_length(body)
        } else {
            length
        };
        let Some(next) = body_len.and_then(|n| at.checked_add(head_len)?.checked_add(n)) else {
            break;
        };
        at = next;
    }
    found
}

/// Bytes of a chunked body from its first chunk-size line to the end of its trailers, when the
/// whole body is there.
fn chunked_length(body: &[u8]) -> Option<usize> {
    let mut at = 0usize;
    loop {
        let rest = body.get(at..)?;
        let httparse::Status::Complete((line_len, size)) = httparse::parse_chunk_size(rest).ok()?
        else {
            return None;
        };
        at = at.checked_add(line_len)?;
        if size == 0 {
            // Trailer fields, then an empty line.
            let rest = body.get(at..)?;
            let mut trailers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let httparse::Status::Complete((len, _)) =
                httparse::parse_headers(rest, &mut trailers).ok()?
            else {
                return None;
            };
            return at.checked_add(len);
        }
        at = at
            .checked_add(usize::try_from(size).ok()?)?
            .checked_add(2)?;
    }
}

/// What the forwarded identities of one client stream amount to: the first, how many requests
/// carried one, and how many distinct identities there were. `frame_at` gives the frame of a
/// stream offset.
pub(crate) fn summarize(
    found: &[Forward],
    frame_at: impl Fn(usize) -> Option<u64>,
) -> Option<ForwardedClient> {
    let first = found.first()?;
    let mut distinct: Vec<(&str, ForwardHeader)> = Vec::new();
    for f in found {
        if distinct.len() < MAX_IDENTITIES && !distinct.contains(&(f.identity.as_str(), f.header)) {
            distinct.push((f.identity.as_str(), f.header));
        }
    }
    Some(ForwardedClient {
        header: first.header,
        identity: crate::intern::str(&first.identity),
        by: first.by.as_deref().map(crate::intern::str),
        frame: frame_at(first.offset),
        requests: u32::try_from(found.len()).unwrap_or(u32::MAX),
        identities: u32::try_from(distinct.len()).unwrap_or(u32::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const XFCC: &str = "By=spiffe://cluster.local/ns/bookinfo/sa/details;Hash=4a7c;Subject=\"\";\
                        URI=spiffe://cluster.local/ns/bookinfo/sa/productpage";

    #[test]
    fn reads_the_last_xfcc_element() {
        let f = from_field("X-Forwarded-Client-Cert", XFCC.as_bytes(), 7).unwrap();
        assert_eq!(f.header, ForwardHeader::Xfcc);
        assert_eq!(
            f.identity,
            "spiffe://cluster.local/ns/bookinfo/sa/productpage"
        );
        assert_eq!(
            f.by.as_deref(),
            Some("spiffe://cluster.local/ns/bookinfo/sa/details")
        );
        assert_eq!(f.offset, 7);
        // a client-made element first, the sidecar's last: the last one counts
        let two = format!("URI=spiffe://evil/ns/x/sa/forged;By=\"a,b\",{XFCC}");
        let f = from_field("x-forwarded-client-cert", two.as_bytes(), 0).unwrap();
        assert_eq!(
            f.identity,
            "spiffe://cluster.local/ns/bookinfo/sa/productpage"
        );
        // quoted values, a DNS identity, and nothing to name
        let f = from_field(
            "x-forwarded-client-cert",
            br#"Subject="CN=a,O=b;c";DNS=client.example"#,
            0,
        )
        .unwrap();
        assert_eq!(f.identity, "client.example");
        assert!(from_field("x-forwarded-client-cert", b"Hash=ab;By=x", 0).is_none());
        assert!(from_field("x-forwarded-client-cert", b"", 0).is_none());
        assert!(from_field("x-forwarded-for", b"10.0.0.1", 0).is_none());
    }

    #[test]
    fn reads_l5d_client_id() {
        let f = from_field(
            "l5d-client-id",
            b" productpage.bookinfo.serviceaccount.identity.linkerd.cluster.local ",
            3,
        )
        .unwrap();
        assert_eq!(f.header, ForwardHeader::L5dClientId);
        assert_eq!(
            f.identity,
            "productpage.bookinfo.serviceaccount.identity.linkerd.cluster.local"
        );
        assert_eq!(f.by, None);
    }

    #[test]
    fn walks_requests_and_skips_bodies() {
        let forged = "x-forwarded-client-cert: URI=spiffe://evil/sa/forged\r\n\r\n";
        let stream = format!(
            "POST /a HTTP/1.1\r\nHost: d\r\nContent-Length: {}\r\n\r\n{forged}\
             GET /b HTTP/1.1\r\nx-forwarded-client-cert: {XFCC}\r\n\r\n\
             POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n\
             GET /d HTTP/1.1\r\nl5d-client-id: other.id\r\n\r\n",
            forged.len()
        );
        let found = http1_requests(stream.as_bytes());
        let ids: Vec<&str> = found.iter().map(|f| f.identity.as_str()).collect();
        // the header inside the first body is not a header
        assert_eq!(
            ids,
            [
                "spiffe://cluster.local/ns/bookinfo/sa/productpage",
                "other.id"
            ]
        );
        assert_eq!(found[0].offset, stream.find("GET /b").unwrap());
        let summary = summarize(&found, |o| Some(o as u64 + 100)).unwrap();
        assert_eq!((summary.requests, summary.identities), (2, 2));
        assert_eq!(summary.frame, Some(found[0].offset as u64 + 100));
        // a body of unknown length ends the walk
        let stream = format!(
            "POST /a HTTP/1.1\r\nContent-Length: x\r\n\r\nGET /b HTTP/1.1\r\n\
             x-forwarded-client-cert: {XFCC}\r\n\r\n"
        );
        assert!(http1_requests(stream.as_bytes()).is_empty());
        // a cut head, a response, garbage
        assert!(http1_requests(b"GET / HTTP/1.1\r\nx-forwarded-client-cert: URI=a").is_empty());
        assert!(http1_requests(b"HTTP/1.1 200 OK\r\n\r\n").is_empty());
        assert!(http1_requests(&[0xff; 64]).is_empty());
        assert!(summarize(&[], |_| None).is_none());
    }

    #[test]
    fn chunked_bodies_must_be_whole() {
        assert_eq!(chunked_length(b"5\r\nhello\r\n0\r\n\r\n"), Some(15));
        assert_eq!(
            chunked_length(b"5\r\nhello\r\n0\r\nx-t: 1\r\n\r\n"),
            Some(23)
        );
        assert_eq!(chunked_length(b"5\r\nhel"), None);
        assert_eq!(chunked_length(b"zz\r\n"), None);
        assert_eq!(chunked_length(b"ffffffffffffffff\r\n"), None);
    }
}
