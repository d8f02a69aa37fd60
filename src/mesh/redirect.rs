//! The two halves of a connection that iptables `REDIRECT` rewrote, as `tcpdump -i any` shows
//! them inside a pod: Istio's init container redirects the application's outbound connections
//! to the sidecar at 127.0.0.1:15001. The application's packets are captured after the rewrite
//! (to 127.0.0.1:15001), the sidecar's answers after the reverse rewrite (from the original
//! destination, e.g. the service's ClusterIP): one connection, two address pairs.
//!
//! A flow is the **reply half** of another when both have the same client address and port, the
//! other goes to a loopback address, they overlap in time, and one of them carries packets in
//! one direction only (the request half only from the client, or the reply half only from the
//! server).

use super::leg::is_loopback;
use crate::analyze::FlowFacts;

/// How far apart (start times) the two halves may be.
const WINDOW_NANOS: i64 = 1_000_000_000;

/// For each flow, the index of the request half it is the reply half of.
pub fn reply_halves(flows: &[&FlowFacts]) -> Vec<Option<usize>> {
    let mut out = vec![None; flows.len()];
    // request halves by client endpoint
    let mut requests: Vec<(crate::decode::Endpoint, usize)> = flows
        .iter()
        .enumerate()
        .filter(|(_, f)| is_loopback(f.server.ip) && !is_loopback(f.client.ip))
        .map(|(i, f)| (f.client, i))
        .collect();
    requests.sort_by_key(|(e, i)| (*e, *i));
    let mut taken = vec![false; flows.len()];
    for (bi, b) in flows.iter().enumerate() {
        if is_loopback(b.server.ip) {
            continue;
        }
        let from = requests.partition_point(|(e, _)| *e < b.client);
        let Some(ai) = requests
            .get(from..)
            .unwrap_or(&[])
            .iter()
            .take_while(|(e, _)| *e == b.client)
            .map(|(_, i)| *i)
            .find(|&ai| {
                flows.get(ai).is_some_and(|a| {
                    !taken.get(ai).copied().unwrap_or(true)
                        && (a.first_ts - b.first_ts).saturating_abs() <= WINDOW_NANOS
                        && (a.packets[1] == 0 || b.packets[0] == 0)
                })
            })
        else {
            continue;
        };
        if let (Some(slot), Some(t)) = (out.get_mut(bi), taken.get_mut(ai)) {
            *slot = Some(ai);
            *t = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::leg::tests::facts;

    #[test]
    fn finds_the_reply_half_of_a_redirected_connection() {
        let mut request = facts("10.44.0.10:42932", "127.0.0.1:15001", 0, 20);
        request.packets = [6, 0];
        request.loopback_if = true;
        let mut reply = facts("10.44.0.10:42932", "10.96.0.20:9080", 1, 19);
        reply.packets = [0, 4];
        reply.loopback_if = true;
        let other = facts("10.44.0.10:46360", "10.44.0.20:9080", 2, 10);
        let list = [&request, &reply, &other];
        assert_eq!(reply_halves(&list), vec![None, Some(0), None]);
        // both directions on both keys: not a rewrite, two connections
        let mut both = reply.clone();
        both.packets = [3, 4];
        let mut req_both = request.clone();
        req_both.packets = [3, 3];
        assert_eq!(reply_halves(&[&req_both, &both]), vec![None, None]);
        // far apart in time
        let mut late = reply.clone();
        late.first_ts += 5_000_000_000;
        assert_eq!(reply_halves(&[&request, &late]), vec![None, None]);
        // a different client port
        let mut port = reply.clone();
        port.client.port = 1;
        assert_eq!(reply_halves(&[&request, &port]), vec![None, None]);
        assert!(reply_halves(&[]).is_empty());
    }
}
