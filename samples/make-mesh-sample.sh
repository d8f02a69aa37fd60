#!/usr/bin/env bash
# Makes the Istio sidecar samples: a pod captured with `tcpdump -i any` (what `kubectl sniff`
# does), holding both legs of its requests.
#
#   sudo samples/make-mesh-sample.sh
#
# Five network namespaces stand for a node and four pods of the bookinfo application, joined by
# a bridge in the node's namespace (10.44.0.0/24, addresses of these test namespaces only):
#
#   node            10.44.0.1    kubelet health probe (15021) and Prometheus scrape (15090)
#   productpage-v1  10.44.0.10   the captured pod: application + sidecar (samples/meshsim.py),
#                                iptables REDIRECT like istio-init (outbound 9080 to the
#                                details ClusterIP -> 15001, inbound 9080 -> 15006)
#   details-v1      10.44.0.20   mTLS server (its sidecar)
#   ratings-v1      10.44.0.30   plaintext HTTP server (a pod outside the mesh)
#   reviews-v1      10.44.0.40   mTLS client calling productpage
#
# Writes mesh-istio.pcap (every network leg mTLS or plaintext by design) and
# mesh-istio-leak.pcap (the same, plus the application calling ratings directly in plaintext).
# pods.json and services.json beside them hold these addresses as `kubectl get pods/svc -A -o
# json` would. Needs root, iptables, tcpdump, python3; takes about 10 seconds.
#
#   sudo MODE=xfcc samples/make-mesh-sample.sh
#
# writes only mesh-istio-xfcc.pcap and mesh-linkerd-l5d.pcap instead, captured inside the details
# pod, whose inbound proxy forwards the client identity to the application (Istio's
# x-forwarded-client-cert, Linkerd's l5d-client-id); see "MODE=xfcc" below and docs/mesh.md.
set -euo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PKI="$HERE/pki"
SIM="$HERE/meshsim.py"
NS=(mtlscan-node mtlscan-pp mtlscan-det mtlscan-rat mtlscan-rev)

die() { echo "make-mesh-sample.sh: $*" >&2; exit 1; }
log() { printf '== %s\n' "$*" >&2; }

[[ -z ${MODE:-} || $MODE == xfcc ]] || die "unknown MODE=$MODE (leave it unset, or xfcc)"
[[ $EUID -eq 0 ]] || die "run as root (network namespaces, iptables, tcpdump)"
missing=()
for t in tcpdump:tcpdump iptables:iptables python3:python3 ip:iproute2 curl:curl \
         ethtool:ethtool timeout:coreutils; do
    command -v "${t%%:*}" >/dev/null 2>&1 || missing+=("${t#*:}")
done
if ((${#missing[@]})); then
    log "installing: ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/mtlscan-mesh.XXXXXX")"
BG=()
cleanup() {
    local p n
    for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${BG[@]}"; do wait "$p" 2>/dev/null || true; done
    for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "make-mesh-sample.sh: interrupted" >&2; exit 130' INT
trap 'echo "make-mesh-sample.sh: terminated" >&2; exit 143' TERM

nsx() { local n=$1; shift; ip netns exec "mtlscan-$n" "$@"; }

# ---------------------------------------------------------------- namespaces
for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null || true; ip netns add "$n"; done
nsx node ip link set lo up
nsx node ip link add br0 type bridge
nsx node ip addr add 10.44.0.1/24 dev br0
nsx node ip link set br0 up
pod() { # SHORT-NAME ADDRESS
    local n=$1 addr=$2
    nsx node ip link add "v-$n" type veth peer name eth0 netns "mtlscan-$n"
    nsx node ip link set "v-$n" master br0 up
    nsx "$n" ip link set lo up
    nsx "$n" ip addr add "$addr/24" dev eth0
    nsx "$n" ip link set eth0 up
    nsx "$n" ip route add default via 10.44.0.1
    # wire-sized segments, as a real NIC shows them
    nsx "$n" ethtool -K eth0 tso off gso off gro off >/dev/null 2>&1 || true
    nsx "$n" ethtool -K lo tso off gso off gro off >/dev/null 2>&1 || true
}
pod pp 10.44.0.10
pod det 10.44.0.20
pod rat 10.44.0.30
pod rev 10.44.0.40
# istio-init's redirection, reduced to what the sample uses
nsx pp iptables -t nat -A OUTPUT -p tcp -d 10.96.0.20 --dport 9080 -j REDIRECT --to-ports 15001
nsx pp iptables -t nat -A PREROUTING -p tcp -d 10.44.0.10 --dport 9080 -j REDIRECT --to-ports 15006

wait_ready() { # FILE: a meshsim role prints "ready" once it listens
    local i
    for ((i = 0; i < 100; i++)); do grep -q ready "$1" 2>/dev/null && return 0; sleep 0.05; done
    die "a simulated peer did not start ($1)"
}
bg() { # LOG NS COMMAND...: start a peer in a namespace
    local logf=$1 n=$2
    shift 2
    nsx "$n" timeout 30 "$@" >"$logf" 2>&1 </dev/null &
    BG+=($!)
}

CAP=
cap_start() { # FILE
    rm -f "$1"
    # started directly (not through a function) so that $! is tcpdump itself
    ip netns exec "mtlscan-${CAP_NS:-pp}" tcpdump -i any -y LINUX_SLL2 -s 0 -B 32768 -U --immediate-mode -n -Z root -w "$1" tcp \
        2>"$WORK/tcpdump.err" &
    CAP=$!
    BG+=("$CAP")
    local i
    for ((i = 0; i < 200; i++)); do
        # tcpdump says it listens a moment before every interface of 'any' delivers packets
        grep -q 'listening on' "$WORK/tcpdump.err" 2>/dev/null && { sleep 0.5; return 0; }
        sleep 0.05
    done
    cat "$WORK/tcpdump.err" >&2
    die "tcpdump did not start"
}
cap_stop() {
    sleep 0.3
    kill -INT "$CAP"
    wait "$CAP" || true
    grep -E 'packets (captured|dropped by kernel)' "$WORK/tcpdump.err" | tr '\n' ' ' >&2; echo >&2
    grep -q '^0 packets dropped by kernel' "$WORK/tcpdump.err" || die "tcpdump dropped packets"
}

one_capture() { # FILE LEAK(0|1)
    local file=$1 leak=$2
    log "capturing $file"
    bg "$WORK/app.log" pp python3 "$SIM" http-server 10.44.0.10:9080 1
    bg "$WORK/health.log" pp python3 "$SIM" http-server 0.0.0.0:15021 1
    bg "$WORK/stats.log" pp python3 "$SIM" http-server 0.0.0.0:15090 1
    bg "$WORK/sidecar.log" pp python3 "$SIM" sidecar "$PKI" productpage
    bg "$WORK/details.log" det python3 "$SIM" mtls-server "$PKI" details 10.44.0.20:9080 1
    ((leak)) && bg "$WORK/ratings.log" rat python3 "$SIM" http-server 10.44.0.30:9080 1
    for f in app health stats sidecar details; do wait_ready "$WORK/$f.log"; done
    ((leak)) && wait_ready "$WORK/ratings.log"
    cap_start "$HERE/$file"
    # 1. kubelet readiness probe to the sidecar's health port (plaintext by design)
    nsx node curl -sS -o /dev/null --max-time 5 http://10.44.0.10:15021/healthz/ready
    sleep 0.2
    # 2-3. the application calls details through its sidecar: loopback leg + mTLS network leg
    nsx pp curl -sS -o /dev/null --max-time 5 -H 'Host: details.bookinfo:9080' \
        http://10.96.0.20:9080/details/0
    sleep 0.2
    # 4-5. reviews calls productpage: mTLS network leg + loopback leg from 127.0.0.6
    nsx rev python3 "$SIM" mtls-client "$PKI" reviews 10.44.0.10:9080 \
        outbound_.9080_._.productpage.bookinfo.svc.cluster.local /productpage
    sleep 0.2
    # 6. Prometheus scrapes Envoy's statistics (plaintext by design)
    nsx node curl -sS -o /dev/null --max-time 5 http://10.44.0.10:15090/stats/prometheus
    if ((leak)); then
        sleep 0.2
        # 7. the application bypasses its sidecar: plaintext on the network leg
        nsx pp curl -sS -o /dev/null --max-time 5 -H 'Host: ratings.bookinfo:9080' \
            http://10.44.0.30:9080/ratings/0
    fi
    cap_stop
    local p
    for p in "${BG[@]}"; do wait "$p" 2>/dev/null || true; done
    BG=()
}

# ---------------------------------------------------------------- MODE=xfcc
# The client-identity captures: `tcpdump -i any -y LINUX_SLL2` inside the SERVER pod, details-v1
# (10.44.0.20), whose inbound proxy (meshsim.py inbound-proxy) terminates mTLS and forwards each
# HTTP/1.1 request to the application (plaintext, bound to 0.0.0.0:9080) on a new loopback
# connection per request (the application answers `Connection: close`), adding the client
# identity. Writes only these two files; the other captures are left alone.
#
# mesh-istio-xfcc.pcap: iptables REDIRECT of inbound 10.44.0.20:9080 to the sidecar's 15006; the
# sidecar reaches the application at 10.44.0.20:9080 from 127.0.0.6 and, like Envoy with
# forward_client_cert_details APPEND_FORWARD, adds `x-forwarded-client-cert: By=<details SPIFFE
# ID>;Hash=<SHA-256 of the client leaf DER>;Subject="";URI=<client SPIFFE ID>` (PERMISSIVE:
# plaintext is forwarded too, with any such header removed). Flows, in capture order:
#   1. productpage 10.44.0.10 -> details 10.44.0.20:9080, network: a POOLED mTLS connection whose
#      TLS 1.3 handshake happened before tcpdump started (no SYN, no handshake in the capture);
#      two keep-alive requests 0.2 s apart (GET /details/0; GET /details/1 with an
#      `Authorization: Bearer` header), then close_notify and FIN.
#   2. 127.0.0.6 -> 10.44.0.20:9080, loopback: request 1 of flow 1, with x-forwarded-client-cert
#      (URI=spiffe://cluster.local/ns/bookinfo/sa/productpage).
#   3. 127.0.0.6 -> 10.44.0.20:9080, loopback: request 2 of flow 1, the same header, plus
#      authorization.
#   4. reviews 10.44.0.40 -> details 10.44.0.20:9080, network: a fresh mTLS connection (full
#      TLS 1.3 handshake, Istio SNI and ALPN), GET /details/2.
#   5. 127.0.0.6 -> 10.44.0.20:9080, loopback: flow 4's request, with x-forwarded-client-cert
#      (URI=spiffe://cluster.local/ns/bookinfo/sa/reviews).
#   6. ratings 10.44.0.30 (outside the mesh) -> details 10.44.0.20:9080, network: plaintext curl
#      (a leak), GET /details/3 carrying a forged x-forwarded-client-cert header.
#   7. 127.0.0.6 -> 10.44.0.20:9080, loopback: flow 6's request, the forged header removed.
#
# mesh-linkerd-l5d.pcap: iptables REDIRECT of inbound 10.44.0.20:9080 to the proxy's 4143; the
# proxy reaches the application at 127.0.0.1:9080 from 127.0.0.1, removes any l5d-client-id and
# sets it to the client certificate's DNS SAN. TLS 1.3 without ALPN, SNI = the server identity
# details.bookinfo.serviceaccount.identity.linkerd.cluster.local; certificates
# samples/pki/linkerd-NAME.crt (empty subject, critical DNS SAN NAME.bookinfo.serviceaccount.
# identity.linkerd.cluster.local, signed by samples/pki/ca.crt; minted here when missing or
# invalid). Flows as for Istio:
#   1. productpage -> details:9080, network, pooled (no handshake in the capture), two requests;
#   2-3. 127.0.0.1 -> 127.0.0.1:9080, loopback: its requests, with
#      `l5d-client-id: productpage.bookinfo.serviceaccount.identity.linkerd.cluster.local`;
#   4. reviews -> details:9080, network, fresh mTLS; 5. its loopback request, with
#      `l5d-client-id: reviews.bookinfo.serviceaccount.identity.linkerd.cluster.local`;
#   6. ratings -> details:9080, network, plaintext with a forged l5d-client-id; 7. its loopback
#      request, the forged header removed.
L5D_SUFFIX=bookinfo.serviceaccount.identity.linkerd.cluster.local
linkerd_pki() { # mint samples/pki/linkerd-NAME.{crt,key} unless present and valid
    local n serial=$((0x3000)) ext
    for n in productpage details reviews; do
        serial=$((serial + 1))
        if [[ -s $PKI/linkerd-$n.key && -s $PKI/linkerd-$n.crt ]] &&
            openssl verify -CAfile "$PKI/ca.crt" "$PKI/linkerd-$n.crt" >/dev/null 2>&1 &&
            openssl x509 -in "$PKI/linkerd-$n.crt" -noout -checkend $((30 * 86400)) >/dev/null; then
            continue
        fi
        log "minting $PKI/linkerd-$n.crt"
        ext="$WORK/linkerd-$n.ext"
        printf '%s\n' 'basicConstraints=critical,CA:FALSE' \
            'keyUsage=critical,digitalSignature,keyEncipherment' \
            'extendedKeyUsage=serverAuth,clientAuth' \
            "subjectAltName=critical,DNS:$n.$L5D_SUFFIX" \
            'authorityKeyIdentifier=keyid' >"$ext"
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
            -out "$PKI/linkerd-$n.key" 2>/dev/null
        # empty subject: the identity is longer than the 64 characters a CN may hold
        openssl req -new -key "$PKI/linkerd-$n.key" -subj "/" \
            -out "$WORK/linkerd-$n.csr" 2>/dev/null || die "could not make linkerd-$n.csr"
        openssl x509 -req -in "$WORK/linkerd-$n.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
            -set_serial "$serial" -days 3650 -sha256 -extfile "$ext" \
            -out "$PKI/linkerd-$n.crt" 2>/dev/null || die "could not mint linkerd-$n.crt"
        chmod 644 "$PKI/linkerd-$n.key" # test keys, committed like the others
    done
}

identity_capture() { # MESH(istio|linkerd) FILE
    local mesh=$1 file=$2 port sni forged cert_pp cert_rev cert_det pooled
    if [[ $mesh == istio ]]; then
        port=15006 cert_pp=productpage cert_rev=reviews cert_det=details
        sni=outbound_.9080_._.details.bookinfo.svc.cluster.local
        forged='x-forwarded-client-cert: By=spiffe://cluster.local/ns/bookinfo/sa/details;URI=spiffe://cluster.local/ns/bookinfo/sa/productpage'
    else
        port=4143 cert_pp=linkerd-productpage cert_rev=linkerd-reviews cert_det=linkerd-details
        sni=details.$L5D_SUFFIX
        forged="l5d-client-id: productpage.$L5D_SUFFIX"
    fi
    log "capturing $file"
    # fresh logs: wait_ready must not see the previous capture's "ready"
    rm -f "$WORK/go" "$WORK/app.log" "$WORK/proxy.log" "$WORK/pooled.log"
    # istio-init / linkerd-init, reduced to the one inbound port the sample uses
    nsx det iptables -t nat -F PREROUTING
    nsx det iptables -t nat -A PREROUTING -p tcp -d 10.44.0.20 --dport 9080 -j REDIRECT --to-ports "$port"
    bg "$WORK/app.log" det python3 "$SIM" http-server 0.0.0.0:9080 4
    bg "$WORK/proxy.log" det python3 "$SIM" inbound-proxy "$mesh" "$PKI" "$cert_det" "$port" 3
    wait_ready "$WORK/app.log"
    wait_ready "$WORK/proxy.log"
    # the pooled connection: TLS handshake now, requests once tcpdump runs
    bg "$WORK/pooled.log" pp python3 "$SIM" mesh-client "$mesh" "$PKI" "$cert_pp" 10.44.0.20:9080 \
        "$sni" "$WORK/go" details.bookinfo:9080 /details/0 \
        '/details/1|Authorization: Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJtZXNoc2ltIn0.'
    pooled=$!
    wait_ready "$WORK/pooled.log"
    CAP_NS=det cap_start "$HERE/$file"
    # 1-3. the pooled connection sends its two requests, each forwarded on its own loopback flow
    touch "$WORK/go"
    wait "$pooled" || die "the pooled client failed: $(cat "$WORK/pooled.log")"
    sleep 0.2
    # 4-5. a fresh mTLS connection from reviews
    nsx rev timeout 20 python3 "$SIM" mesh-client "$mesh" "$PKI" "$cert_rev" 10.44.0.20:9080 \
        "$sni" - details.bookinfo:9080 /details/2 >/dev/null
    sleep 0.2
    # 6-7. plaintext from outside the mesh, with a forged identity header
    nsx rat curl -sS -o /dev/null --max-time 5 -H 'Host: details.bookinfo:9080' -H "$forged" \
        http://10.44.0.20:9080/details/3
    cap_stop
    local p
    for p in "${BG[@]}"; do wait "$p" 2>/dev/null || true; done
    BG=()
}

if [[ ${MODE:-} == xfcc ]]; then
    linkerd_pki
    identity_capture istio mesh-istio-xfcc.pcap
    identity_capture linkerd mesh-linkerd-l5d.pcap
    ls -l "$HERE/mesh-istio-xfcc.pcap" "$HERE/mesh-linkerd-l5d.pcap" >&2
    exit 0
fi
one_capture mesh-istio.pcap 0
one_capture mesh-istio-leak.pcap 1
ls -l "$HERE"/mesh-istio*.pcap >&2
