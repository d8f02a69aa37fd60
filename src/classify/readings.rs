//! What a receiver may have taken otherwise than the bytes the capture kept, and what that does
//! to the verdict.
//!
//! The flow table keeps, at every stream position, the bytes that came first (as Linux does)
//! and records a later segment's other bytes there as an alternate; it takes a RST or FIN only
//! when the receiver would; and it marks segments a receiver may not have taken: a wrong TCP
//! checksum, or an IP TTL other than the rest of the direction's. This stage says all of it in
//! the reasons, and where alternates exist it classifies the other reading too:
//!
//! - the verdict follows the first-received bytes, unless every kept copy came from a marked
//!   segment and every alternate from an unmarked one: then the receiver most likely dropped
//!   the kept copies (an injection), and the verdict follows the later bytes;
//! - if the two readings give different verdicts, the flow carries an [`Ambiguity`], and the
//!   policy judges it by the worse one.
//!
//! Checksums are judged per direction: when nearly every checked segment of a direction has a
//! wrong checksum (at least [`OFFLOAD_SHARE`]), the capture was taken on the sending host with
//! checksum offload and the checksums mean nothing; otherwise a wrong one marks an injection.

use std::sync::Arc;

use crate::flow::{Anomalies, Direction, Flow, Ignored, MAX_ALTERNATES, MAX_ALTERNATE_BYTES};
use crate::intern;
use crate::model::{said, Ambiguity, AmbiguityCause, Classification, Code, Reading, Said, Verdict};

/// A direction whose checked segments have at least this share of wrong checksums (percent)
/// was captured on its sending host with checksum offload.
pub const OFFLOAD_SHARE: u32 = 90;

/// Frames of conflicting segments named in an ambiguity.
const MAX_FRAMES: usize = 8;

/// Adds to `class` what the flow's anomalies say, and classifies the other reading of
/// overlapping bytes with `classify` when there is one.
pub(super) fn review(
    flow: &Flow,
    mut class: Classification,
    classify: impl Fn(&Flow) -> Classification,
) -> Classification {
    let mut more = Vec::new();
    if let Some(r) = flow.reopens {
        let how = r.rst_frame.map_or_else(
            || "closed with FINs both ways".to_string(),
            |f| format!("reset at frame {f}"),
        );
        more.push(said(
            Code::Reopened,
            format!(
                "these bytes came on the addresses and ports of the flow that began at frame {}, \
             after it was {how}: a receiver that ignored the close took them, and they crossed \
             the wire either way",
                r.after
            ),
        ));
    }
    for (dir, side) in flow.dir.iter().zip(["client", "server"]) {
        if let Some(a) = dir.anomalies.as_deref() {
            ignored_sentences(a, side, &mut more);
        }
        checksum_sentence(dir, side, &mut more);
        // Two TTLs alone are common (paths change); they matter where bytes disagree.
        let conflicting = dir.anomalies.as_deref().is_some_and(|a| a.conflicts > 0);
        let [(common, n), (odd, m)] = dir.ttls;
        if m > 0 && conflicting {
            more.push(said(
                Code::TwoTtls,
                format!(
                "the {side}'s segments arrived with two TTLs: {common} ({n} segments) and {odd} \
                 ({m}); a segment with the odd one may not have reached the receiver"
            ),
            ));
        }
    }
    let (conflicts, unread) = flow
        .dir
        .iter()
        .filter_map(|d| d.anomalies.as_deref())
        .fold((0u32, 0u32), |(c, u), a| {
            (c.saturating_add(a.conflicts), u.saturating_add(a.unread))
        });
    if conflicts > 0 {
        class = weigh_readings(flow, class, (conflicts, unread), &classify, &mut more);
    }
    if !more.is_empty() {
        class.reasons = class.reasons.with(more);
    }
    class
}

/// The ignored RST and FIN segments of a direction, in words.
fn ignored_sentences(a: &Anomalies, side: &str, out: &mut Vec<Said>) {
    let Some((frame, why)) = a.first_ignored else {
        return;
    };
    let what = match (a.ignored_rst, a.ignored_fin) {
        (0, n) => format!("{n} FIN segment{}", plural(n)),
        (n, 0) => format!("{n} RST segment{}", plural(n)),
        (r, f) => format!("{r} RST and {f} FIN segments"),
    };
    let because = match why {
        Ignored::RstOutOfSequence { expected } => format!(
            "its sequence number is not the next one expected ({expected}), so a receiver \
             drops it (RFC 5961)"
        ),
        Ignored::RstUnacknowledged => {
            "it answers a SYN without acknowledging it, so the client drops it".to_string()
        }
        Ignored::FinOutOfWindow { expected } => format!(
            "it lies outside the receiver's window (which starts at {expected}), so a \
             receiver drops it"
        ),
        Ignored::BadChecksum => {
            "its TCP checksum is wrong where the sender's other checksums are right".to_string()
        }
    };
    out.push(said(
        Code::IgnoredControl,
        format!(
            "{what} from the {side} did not end the connection (the first at frame {frame}: \
         {because}): the flow goes on"
        ),
    ));
}

/// The direction's checksums in words, when some were wrong.
fn checksum_sentence(dir: &Direction, side: &str, out: &mut Vec<Said>) {
    let (bad, checked) = (dir.checksums_bad, dir.checksums_checked);
    if bad == 0 {
        return;
    }
    if offloaded(dir) {
        out.push(said(
            Code::Checksums,
            format!(
                "{bad} of the {checked} checked segments from the {side} {} a wrong TCP checksum: \
             the capture was taken on the sending host with checksum offload, so they count \
             as delivered",
                has(bad)
            ),
        ));
    } else {
        out.push(said(
            Code::Checksums,
            format!(
                "{bad} of the {checked} checked segments from the {side} {} a wrong TCP checksum, \
             among right ones: a receiver drops {} (injected, or damaged)",
                has(bad),
                if bad == 1 { "it" } else { "them" }
            ),
        ));
    }
}

/// The direction's checksums are offloaded: nearly every checked one is wrong.
pub fn offloaded(dir: &Direction) -> bool {
    dir.checksums_bad > 0
        && u64::from(dir.checksums_bad) * 100
            >= u64::from(dir.checksums_checked) * u64::from(OFFLOAD_SHARE)
}

/// The segment in `frame` of direction `dir` may not have reached the receiver: a wrong
/// checksum (not offloaded), or a TTL other than the direction's most frequent one.
fn suspect(dir: &Direction, frame: u64) -> bool {
    let Some(mark) = dir.anomalies.as_deref().and_then(|a| a.mark_of(frame)) else {
        return false;
    };
    let common_ttl = dir.ttls[0].0;
    (mark.bad_checksum && !offloaded(dir)) || mark.ttl.is_some_and(|t| t != common_ttl)
}

/// The flow with every alternate of every direction in place of the kept bytes.
fn other_reading(flow: &Flow) -> Flow {
    let mut other = flow.clone();
    for dir in &mut other.dir {
        let Some(a) = dir.anomalies.take() else {
            continue;
        };
        for alt in &a.alternates {
            let at = alt.offset as usize;
            if let Some(slot) = dir.stream.get_mut(at..) {
                let n = slot.len().min(alt.bytes.len());
                if let (Some(dst), Some(src)) = (slot.get_mut(..n), alt.bytes.get(..n)) {
                    dst.copy_from_slice(src);
                }
            }
        }
        dir.framing_end = None;
    }
    other
}

/// Classifies the other reading of the overlapping bytes and keeps the one a receiver most
/// likely took as the verdict; flags an ambiguity when the two differ.
fn weigh_readings(
    flow: &Flow,
    first: Classification,
    (conflicts, unread): (u32, u32),
    classify: &impl Fn(&Flow) -> Classification,
    out: &mut Vec<Said>,
) -> Classification {
    let alternates: Vec<(&Direction, u64, Option<u64>)> = flow
        .dir
        .iter()
        .filter_map(|d| Some((d, d.anomalies.as_deref()?)))
        .flat_map(|(d, a)| a.alternates.iter().map(move |x| (d, x.frame, x.kept_frame)))
        .collect();
    // Every kept copy from a segment the receiver may have dropped, every other copy not.
    let injected_first = !alternates.is_empty()
        && alternates
            .iter()
            .all(|&(d, frame, kept)| kept.is_some_and(|k| suspect(d, k)) && !suspect(d, frame));
    let later = classify(&other_reading(flow));
    let frames: Box<[u64]> = alternates
        .iter()
        .map(|&(_, frame, _)| frame)
        .take(MAX_FRAMES)
        .collect();
    let frame_list = frames
        .iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let (mut chosen, other, reading) = if injected_first {
        out.push(said(
            Code::Overlap,
            format!(
                "{conflicts} segment{} overlapped bytes already received with other bytes (frames \
             {frame_list}); the first copies came from segments a receiver drops (a wrong \
             checksum, or an odd TTL), so the later bytes are the ones read",
                plural(conflicts)
            ),
        ));
        (later, first, Reading::Later)
    } else {
        out.push(said(
            Code::Overlap,
            format!(
                "{conflicts} segment{} overlapped bytes already received with other bytes (frames \
             {frame_list}); the first bytes are the ones read, as Linux keeps them",
                plural(conflicts)
            ),
        ));
        (first, later, Reading::First)
    };
    let differs = chosen.verdict != other.verdict
        || (chosen.verdict == Verdict::Plaintext
            && chosen.plaintext.as_ref().map(|p| &p.evidence)
                != other.plaintext.as_ref().map(|p| &p.evidence));
    if unread > 0 {
        out.push(said(
            Code::Ambiguous,
            format!(
                "ambiguous: {unread} conflicting cop{} could not all be kept (mtlscan keeps {} \
             copies of at most {} bytes per direction), so no reading is complete; the policy \
             judges the flow a violation",
                if unread == 1 { "y" } else { "ies" },
                MAX_ALTERNATES,
                MAX_ALTERNATE_BYTES,
            ),
        ));
    }
    if chosen.verdict != other.verdict || unread > 0 {
        let evidence = evidence_of(&other);
        if chosen.verdict != other.verdict {
            out.push(said(
                Code::Ambiguous,
                format!(
                "ambiguous: read the other way, the flow is {} ({evidence}); the policy judges \
                 it by the worse reading",
                other.verdict.name()
            ),
            ));
        }
        chosen.ambiguity = Some(Box::new(Ambiguity {
            cause: AmbiguityCause::Overlap,
            conflicts,
            reading,
            other_verdict: other.verdict,
            other_client_certificate: other
                .tls
                .as_ref()
                .and_then(|t| t.client_certificate.presented),
            other_evidence: evidence,
            frames,
            unread,
        }));
    } else if differs {
        out.push(said(
            Code::Overlap,
            format!(
                "read the other way, the flow is {} too ({})",
                other.verdict.name(),
                evidence_of(&other)
            ),
        ));
    }
    chosen
}

/// A short quote of a classification: its cleartext, or what its TLS is.
fn evidence_of(class: &Classification) -> Arc<str> {
    if let Some(p) = &class.plaintext {
        return Arc::clone(&p.evidence);
    }
    match &class.tls {
        Some(tls) => intern::str(&format!(
            "TLS {}",
            tls.hello.version.as_deref().unwrap_or("records")
        )),
        None => intern::str(class.verdict.name()),
    }
}

fn has(n: u32) -> &'static str {
    if n == 1 {
        "has"
    } else {
        "have"
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::analyze::FlowResult;
    use crate::classify::{classify, Context};
    use crate::decode::Endpoint;
    use crate::flow::{Alternate, ClientBy, Mark};
    use crate::report::{Policy, Requirement, Shortfall};

    const GET: &[u8] = b"GET /secret HTTP/1.1\r\nHost: x\r\n\r\n";

    /// A client that sent a ClientHello in frame 4, and a copy of its start with a cleartext
    /// request in frame 5 (`kept_marked`: frame 4 had a wrong checksum).
    fn conflicted(kept_marked: bool) -> Flow {
        let ep = |last: u8, port: u16| Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
            port,
        };
        let mut client = Direction {
            stream: crate::classify::tls::tests::ch13(&[]),
            frames: vec![(0, 4)],
            packets: 2,
            checksums_checked: 3,
            ..Direction::default()
        };
        client.payload_bytes = client.stream.len() as u64;
        let mut anomalies = Anomalies {
            conflicts: 1,
            alternates: vec![Alternate {
                offset: 0,
                bytes: GET.into(),
                frame: 5,
                kept_frame: Some(4),
            }],
            ..Anomalies::default()
        };
        if kept_marked {
            client.checksums_bad = 1;
            anomalies.marks.push(Mark {
                frame: 4,
                bad_checksum: true,
                ttl: None,
            });
        }
        client.anomalies = Some(Box::new(anomalies));
        Flow {
            a: ep(1, 40000),
            b: ep(2, 443),
            client_by: ClientBy::Syn,
            dir: [client, Direction::default()],
            first_frame: 1,
            last_frame: 9,
            first_ts: 0,
            last_ts: 0,
            syn_seen: true,
            loopback_if: false,
            reopens: None,
        }
    }

    fn result(class: Classification) -> FlowResult {
        FlowResult {
            id: 1,
            capture: 0,
            facts: crate::mesh::leg::tests::facts("10.0.0.1:40000", "10.0.0.2:443", 0, 1),
            class,
        }
    }

    #[test]
    fn two_readings_with_other_verdicts_are_ambiguous_and_judged_by_the_worse() {
        let class = classify(&conflicted(false), &Context::default());
        // the first bytes are read: a ClientHello
        assert_eq!(class.verdict, Verdict::Tls);
        let a = class.ambiguity.as_deref().expect("ambiguous");
        assert_eq!(
            (a.reading, a.other_verdict),
            (Reading::First, Verdict::Plaintext)
        );
        assert_eq!(&*a.other_evidence, "GET /secret HTTP/1.1");
        assert_eq!((a.conflicts, &a.frames[..]), (1, &[5][..]));
        let text = class.reasons.join("\n");
        assert!(text.contains("the first bytes are the ones read"), "{text}");
        assert!(
            text.contains("ambiguous: read the other way, the flow is plaintext"),
            "{text}"
        );
        // TLS would pass `--require encrypted`; the other reading does not
        let judged = Policy::shortfall(Requirement::Encrypted, &result(class));
        assert_eq!(
            judged,
            Some(Shortfall::Violation(
                "ambiguous: violates it read the other way"
            ))
        );
    }

    #[test]
    fn kept_bytes_from_a_dropped_segment_give_way_to_the_later_ones() {
        let class = classify(&conflicted(true), &Context::default());
        assert_eq!(class.verdict, Verdict::Plaintext);
        let a = class.ambiguity.as_deref().expect("ambiguous");
        assert_eq!((a.reading, a.other_verdict), (Reading::Later, Verdict::Tls));
        let text = class.reasons.join("\n");
        assert!(text.contains("a receiver drops it"), "{text}");
        assert!(text.contains("the later bytes are the ones read"), "{text}");
        assert_eq!(
            Policy::shortfall(Requirement::Encrypted, &result(class)),
            Some(Shortfall::Violation("plaintext"))
        );
    }

    #[test]
    fn copies_too_many_to_keep_make_the_flow_ambiguous_and_a_violation() {
        // the alternate budget was spent: one more copy was counted but not kept
        let mut flow = conflicted(false);
        let a = flow.dir[0].anomalies.as_deref_mut().unwrap();
        a.alternates[0].bytes = crate::classify::tls::tests::ch13(&[]).into();
        a.conflicts = 2;
        a.unread = 1;
        let class = classify(&flow, &Context::default());
        assert_eq!(class.verdict, Verdict::Tls);
        let amb = class.ambiguity.as_deref().expect("ambiguous");
        assert_eq!((amb.other_verdict, amb.unread), (Verdict::Tls, 1));
        let text = class.reasons.join("\n");
        assert!(text.contains("could not all be kept"), "{text}");
        assert_eq!(
            Policy::shortfall(Requirement::Encrypted, &result(class)),
            Some(Shortfall::Violation(
                "ambiguous: conflicting copies too many to read"
            ))
        );
    }
}
