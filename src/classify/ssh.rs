//! SSH, recognised by its handshake (RFC 4253): each side's identification line, then its
//! binary packets in the clear (`KEXINIT`, the key exchange) up to `NEWKEYS`, after which every
//! byte it sends is encrypted. A flow is encrypted by SSH only when both sides are seen to take
//! their new keys and what follows does not read as text.
//!
//! The framing is read here: the one SSH parser of the field (rusticata's `ssh-parser`) is
//! LGPL-licensed, and the handshake needs only its packet lengths and message types.

use super::entropy;
use super::plaintext::escape;

/// Longest identification line (RFC 4253: 255 characters with CR LF).
const MAX_LINE: usize = 255;
/// Lines a server may send before its identification line.
const MAX_PRELUDE_LINES: usize = 16;
/// Largest cleartext packet of the key exchange (RFC 4253 asks for 35 000 bytes at least).
const MAX_PACKET: usize = 35_000;
/// Packets before `NEWKEYS`: a key exchange takes a handful.
const MAX_PACKETS: usize = 32;
/// Bytes after `NEWKEYS` below which their entropy says nothing.
const MIN_JUDGED: usize = 32;
/// A run of this many printable bytes is text: in ciphertext (each byte printable with odds of
/// about 0.38) such a run turns up once in some 10^10 bytes.
const TEXT_RUN: usize = 24;

/// `SSH_MSG_KEXINIT`.
const KEXINIT: u8 = 20;
/// `SSH_MSG_NEWKEYS`.
const NEWKEYS: u8 = 21;

/// What one side's bytes show of an SSH handshake.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SshSide {
    /// The identification line (`SSH-2.0-OpenSSH_9.2p1`), escaped and bounded.
    pub banner: String,
    /// Protocol version of the identification line: `2.0` or `1.99`.
    pub version: String,
    /// The side's offers in its `KEXINIT`: key exchange, then ciphers client to server and
    /// server to client.
    pub kex: Vec<String>,
    pub ciphers_c2s: Vec<String>,
    pub ciphers_s2c: Vec<String>,
    /// Where its `NEWKEYS` packet ends: the first encrypted byte.
    pub newkeys_end: Option<usize>,
    /// Where, after `NEWKEYS`, the bytes read as text (or the first of them, when they are not
    /// random as a whole): not what encryption gives.
    pub clear_after: Option<usize>,
}

/// One side's SSH handshake in `bytes` (its stream from the start), or `None` when they do not
/// open with an SSH identification line.
pub fn side(bytes: &[u8], client: bool) -> Option<SshSide> {
    let (banner_line, mut at) = identification(bytes, client)?;
    let version = banner_line
        .strip_prefix(b"SSH-")
        .and_then(|rest| rest.split(|&b| b == b'-').next())
        .filter(|v| matches!(*v, b"2.0" | b"1.99"))?;
    let mut side = SshSide {
        banner: escape::escape(banner_line, MAX_LINE),
        version: String::from_utf8_lossy(version).into_owned(),
        ..SshSide::default()
    };
    for _ in 0..MAX_PACKETS {
        let Some((kind, payload, end)) = packet(bytes, at) else {
            break;
        };
        match kind {
            KEXINIT => read_kexinit(payload, &mut side),
            NEWKEYS => {
                side.newkeys_end = Some(end);
                let after = bytes.get(end..).unwrap_or_default();
                side.clear_after = text_in(after).map(|at| end + at);
                break;
            }
            // transport messages and the key exchange methods' own (RFC 4250)
            1..=4 | 30..=49 => {}
            _ => break,
        }
        at = end;
    }
    Some(side)
}

/// The identification line and where the packets start. A server may send other lines first
/// (RFC 4253, 4.2); a client may not.
fn identification(bytes: &[u8], client: bool) -> Option<(&[u8], usize)> {
    let mut at = 0;
    let lines = if client { 1 } else { MAX_PRELUDE_LINES + 1 };
    for _ in 0..lines {
        let rest = bytes.get(at..)?;
        let window = rest.get(..MAX_LINE).unwrap_or(rest);
        let end = memchr::memchr(b'\n', window)?;
        let line = rest.get(..end)?;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        at += end + 1;
        if line.starts_with(b"SSH-") {
            return Some((line, at));
        }
    }
    None
}

/// The cleartext binary packet at `at`: its message type, payload (after the type) and end.
fn packet(bytes: &[u8], at: usize) -> Option<(u8, &[u8], usize)> {
    let len = u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize;
    let padding = usize::from(*bytes.get(at + 4)?);
    // RFC 4253, 6: at least 4 bytes of padding, and the whole packet a multiple of 8 bytes
    if !(12..=MAX_PACKET).contains(&len) || padding < 4 || padding + 2 > len || (len + 4) % 8 != 0 {
        return None;
    }
    let end = at + 4 + len;
    let body = bytes.get(at + 5..end - padding)?;
    let (&kind, payload) = body.split_first()?;
    Some((kind, payload, end))
}

/// The name-lists of a `KEXINIT` payload that say what was negotiated.
fn read_kexinit(payload: &[u8], side: &mut SshSide) {
    // 16 bytes of cookie, then ten name-lists
    let mut at = 16;
    let mut lists: Vec<Vec<String>> = Vec::with_capacity(4);
    for _ in 0..4 {
        let Some(len) = payload
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(|b| u32::from_be_bytes(b) as usize)
        else {
            return;
        };
        let Some(list) = payload.get(at + 4..at + 4 + len) else {
            return;
        };
        lists.push(
            list.split(|&b| b == b',')
                .filter(|n| !n.is_empty())
                .take(64)
                .map(|n| escape::escape(n, 64))
                .collect(),
        );
        at += 4 + len;
    }
    let mut lists = lists.into_iter();
    side.kex = lists.next().unwrap_or_default();
    let _host_key = lists.next();
    side.ciphers_c2s = lists.next().unwrap_or_default();
    side.ciphers_s2c = lists.next().unwrap_or_default();
}

/// Where `bytes` stop reading as encryption gives them: the first run of [`TEXT_RUN`] printable
/// bytes, or their start when they are not random as a whole.
fn text_in(bytes: &[u8]) -> Option<usize> {
    let printable = |b: &u8| matches!(b, 0x20..=0x7e | b'\r' | b'\n' | b'\t');
    let mut run = 0;
    for (i, b) in bytes.iter().enumerate() {
        run = if printable(b) { run + 1 } else { 0 };
        if run == TEXT_RUN {
            return Some(i + 1 - TEXT_RUN);
        }
    }
    let sample = bytes.get(..entropy::SAMPLE_BYTES).unwrap_or(bytes);
    let random = entropy::is_high_entropy(sample) && !super::plaintext::other::is_text(sample);
    (bytes.len() >= MIN_JUDGED && !random).then_some(0)
}

/// What the two sides agreed on: the first of the client's algorithms that the server offers
/// too (RFC 4253, 7.1).
pub fn agreed(client: &[String], server: &[String]) -> Option<String> {
    client.iter().find(|a| server.contains(a)).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet_of(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut padding = 4;
        while (1 + 1 + payload.len() + padding + 4) % 8 != 0 {
            padding += 1;
        }
        let len = 1 + 1 + payload.len() + padding;
        let mut p = (len as u32).to_be_bytes().to_vec();
        p.push(padding as u8);
        p.push(kind);
        p.extend_from_slice(payload);
        p.extend(std::iter::repeat_n(0, padding));
        p
    }

    fn kexinit(kex: &str, cipher: &str) -> Vec<u8> {
        let mut p = vec![7u8; 16];
        for list in [kex, "ssh-ed25519", cipher, cipher, "", "", "", "", "", ""] {
            p.extend_from_slice(&(list.len() as u32).to_be_bytes());
            p.extend_from_slice(list.as_bytes());
        }
        p.extend_from_slice(&[0, 0, 0, 0, 0]);
        p
    }

    fn random(n: usize) -> Vec<u8> {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn handshake(after: &[u8]) -> Vec<u8> {
        let mut s = b"SSH-2.0-OpenSSH_9.2p1 Debian\r\n".to_vec();
        s.extend(packet_of(
            KEXINIT,
            &kexinit("curve25519-sha256,ecdh", "aes128-ctr"),
        ));
        s.extend(packet_of(30, &[1; 36]));
        s.extend(packet_of(NEWKEYS, &[]));
        s.extend_from_slice(after);
        s
    }

    #[test]
    fn a_handshake_then_ciphertext_is_read() {
        let bytes = handshake(&random(200));
        let s = side(&bytes, true).unwrap();
        assert_eq!(s.version, "2.0");
        assert_eq!(s.banner, "SSH-2.0-OpenSSH_9.2p1 Debian");
        assert_eq!(s.kex, ["curve25519-sha256", "ecdh"]);
        assert_eq!(s.ciphers_c2s, ["aes128-ctr"]);
        assert_eq!(s.newkeys_end, Some(bytes.len() - 200));
        assert_eq!(s.clear_after, None);
        assert_eq!(
            agreed(&s.kex, &["ecdh".into(), "curve25519-sha256".into()]),
            Some("curve25519-sha256".into())
        );
    }

    #[test]
    fn text_after_newkeys_is_not_taken_for_ciphertext() {
        let text = b"GET /secret HTTP/1.1\r\nHost: payments\r\nAuthorization: Basic x\r\n\r\n";
        let s = side(&handshake(text), true).unwrap();
        assert_eq!(s.clear_after, s.newkeys_end);
        // text between random bytes is found where it is
        let mut island = random(500);
        island.extend_from_slice(text);
        island.extend(random(500));
        let s = side(&handshake(&island), true).unwrap();
        assert_eq!(s.clear_after, s.newkeys_end.map(|end| end + 500));
    }

    #[test]
    fn a_banner_alone_or_broken_framing_has_no_newkeys() {
        let s = side(b"SSH-2.0-x\r\nGET / HTTP/1.1\r\n\r\n", true).unwrap();
        assert_eq!(s.newkeys_end, None);
        let mut bytes = b"SSH-2.0-x\r\n".to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 13, 4, 21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            side(&bytes, true).unwrap().newkeys_end,
            None,
            "length not 8-aligned"
        );
        assert!(side(b"SSH-3.0-x\r\n", true).is_none());
        assert!(
            side(b"hello\r\nSSH-2.0-x\r\n", true).is_none(),
            "a client says it first"
        );
        assert!(side(b"hello\r\nSSH-2.0-x\r\n", false).is_some());
        assert!(side(&[0xff; 300], false).is_none());
    }

    #[test]
    fn any_bytes_are_read_without_panic() {
        let bytes = handshake(&random(64));
        for cut in 0..bytes.len() {
            let _ = side(&bytes[..cut], true);
            let mut flipped = bytes.clone();
            flipped[cut] ^= 0xa5;
            let _ = side(&flipped, false);
        }
    }
}
