//! TLS alerts: cleartext alerts by level and description name; after encryption starts an alert
//! is hidden, and only its record shape can show it.

use super::records::{Record, ALERT, APPLICATION_DATA};
use crate::model::AlertInfo;

/// The alerts of one direction.
///
/// `encrypted_from` is the index of the first record protected by the session keys (after the
/// ChangeCipherSpec in TLS <= 1.2, after the ServerHello in TLS 1.3). `tls13_tag` is the AEAD tag
/// length when the session is TLS 1.3: there alerts travel as application data, and the last
/// record of a direction that then closed is reported as an encrypted alert when its size is
/// exactly that of an alert (2 bytes + content type + tag).
pub fn collect(
    records: &[Record<'_>],
    from: &'static str,
    encrypted_from: Option<usize>,
    tls13_tag: Option<usize>,
    closed: bool,
) -> Vec<AlertInfo> {
    let encrypted_from = encrypted_from.unwrap_or(usize::MAX);
    let mut out = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if r.content_type != ALERT {
            continue;
        }
        match (i < encrypted_from, r.body) {
            (true, [level, code]) => out.push(AlertInfo {
                frame: r.frame,
                from_server: from == "server",
                codes: Some((*level, *code)),
            }),
            _ => out.push(encrypted(from, r.frame)),
        }
    }
    if let (Some(tag), true) = (tls13_tag, closed) {
        let last = records.len().checked_sub(1);
        if let Some((i, r)) = last.and_then(|i| records.get(i).map(|r| (i, r))) {
            if i >= encrypted_from
                && r.content_type == APPLICATION_DATA
                && Some(r.body.len()) == alert_record_len(tag)
            {
                out.push(encrypted(from, r.frame));
            }
        }
    }
    out
}

/// The alerts of both directions, client first.
pub fn both(client: Vec<AlertInfo>, server: Vec<AlertInfo>) -> Box<[AlertInfo]> {
    client.into_iter().chain(server).collect()
}

/// Body length of a TLS 1.3 record holding only an alert: 2 + 1 (content type) + tag.
pub fn alert_record_len(tag_len: usize) -> Option<usize> {
    tag_len.checked_add(3)
}

fn encrypted(from: &'static str, frame: Option<u64>) -> AlertInfo {
    AlertInfo {
        frame,
        from_server: from == "server",
        codes: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{description_name, level_name};

    fn rec(content_type: u8, body: &'static [u8], frame: u64) -> Record<'static> {
        Record {
            content_type,
            version: 0x0303,
            offset: 0,
            header: &[],
            body,
            frame: Some(frame),
            after_hole: false,
        }
    }

    #[test]
    fn names() {
        assert_eq!(description_name(40), "handshake_failure");
        assert_eq!(description_name(116), "certificate_required");
        assert_eq!(description_name(0), "close_notify");
        assert_eq!(description_name(200), "unknown(200)");
        assert_eq!(level_name(2), "fatal");
        assert_eq!(level_name(1), "warning");
        assert_eq!(level_name(9), "level(9)");
        assert_eq!(level_name(255), "level(255)");
        assert_eq!(description_name(255), "unknown(255)");
        // one table, handed out again
        assert!(std::ptr::eq(description_name(40), description_name(40)));
    }

    #[test]
    fn cleartext_and_tls12_encrypted_alerts() {
        let records = [
            rec(22, &[0; 4], 1),
            rec(21, &[2, 42], 2),
            rec(20, &[1], 3),
            rec(21, &[0; 26], 4),
        ];
        let a = collect(&records, "server", Some(3), None, false);
        assert_eq!(a.len(), 2);
        assert_eq!(
            (a[0].level(), a[0].description()),
            ("fatal", "bad_certificate")
        );
        assert_eq!(a[0].frame, Some(2));
        assert_eq!((a[1].level(), a[1].frame), ("encrypted", Some(4)));
    }

    #[test]
    fn tls13_alert_shape_needs_close_and_exact_size() {
        let records = [
            rec(22, &[0; 4], 1),
            rec(23, &[0; 500], 2),
            rec(23, &[0; 19], 3),
        ];
        let a = collect(&records, "server", Some(1), Some(16), true);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].frame, Some(3));
        assert!(collect(&records, "server", Some(1), Some(16), false).is_empty());
        assert!(collect(&records, "server", Some(1), Some(8), true).is_empty());
        assert!(collect(&records[..1], "server", Some(1), Some(16), true).is_empty());
        assert!(collect(&[], "server", None, Some(16), true).is_empty());
    }
}
