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
set -euo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PKI="$HERE/pki"
SIM="$HERE/meshsim.py"
NS=(mtlscan-node mtlscan-pp mtlscan-det mtlscan-rat mtlscan-rev)

die() { echo "make-mesh-sample.sh: $*" >&2; exit 1; }
log() { printf '== %s\n' "$*" >&2; }

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
    ip netns exec mtlscan-pp tcpdump -i any -y LINUX_SLL2 -s 0 -B 32768 -U --immediate-mode -n -Z root -w "$1" tcp \
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

one_capture mesh-istio.pcap 0
one_capture mesh-istio-leak.pcap 1
ls -l "$HERE"/mesh-istio*.pcap >&2
