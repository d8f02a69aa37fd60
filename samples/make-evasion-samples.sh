#!/usr/bin/env bash
# Regenerates samples/evasion-*.pcap: real plaintext exchanges into which TCP evasion tricks were
# injected, for testing that mtlscan (a CI gate) is not blinded by packets an attacker can forge.
#
#   sudo samples/make-evasion-samples.sh
#   sudo ONLY='offload mpls' samples/make-evasion-samples.sh   # only evasion-offload.pcap and
#                                                              # evasion-mpls.pcap
#   sudo KEEP_WORK=1 samples/make-evasion-samples.sh           # keep the raw captures and logs
#
# Every capture starts as a REAL exchange between real peers, recorded with tcpdump -s 0 on the
# client's link: three network namespaces, client 10.97.1.2 -- router 10.97.1.1/10.97.2.1 --
# server 10.97.2.2, joined by veth pairs with TX checksum offload off (so that every captured
# checksum is the real one). The client's packets show TTL 64, the server's TTL 63 (one router).
# The server is `python3 -m http.server` (answers HTTP/1.0 200 OK), the client `evasion.py get`,
# which waits 50 ms after the handshake and then sends
#   GET /secret/report?id=7 HTTP/1.1 ... Authorization: Bearer t0k3n
# (curl for the two captures that need no room for injection). evasion.py then rewrites the
# capture: the real packets are copied byte for byte, crafted ones (scapy) are inserted at the
# stated position, with timestamps strictly between their neighbours. Crafted packets carry
# correct IP and TCP checksums and the TTL of the side they pretend to come from unless stated.
# C / S = the client's / server's next sequence number after the handshake (ISN + 1).
#
#  port file                              what
#  9701 evasion-rst-before-synack.pcap    after the client's SYN: forged server RST+ACK (seq 0,
#                                         ack client ISN+1), forged server FIN+ACK (seq S), forged
#                                         client RST (seq C); then the real SYN-ACK, GET, 200 OK
#  9702 evasion-rst-out-of-window.pcap    after the handshake: forged server RST seq S+100000,
#                                         forged client RST seq C-5000 (Linux drops both)
#  9703 evasion-rst-in-window.pcap        after the handshake: forged server RST seq S+1000
#                                         (Linux, RFC 5961: challenge ACK, RST ignored)
#  9704 evasion-rst-exact.pcap            after the GET, before the answer: forged server RST+ACK
#                                         with seq S exactly (accepted); the real 200 OK follows
#  9705 evasion-fin-out-of-window.pcap    after the handshake: forged FIN+ACK from each side,
#                                         seq C+200000 / S+200000
#  9706 evasion-fin-exact.pcap            after the handshake: forged FIN+ACK from each side with
#                                         seq C / S exactly; the real GET / 200 OK follow
#  9707 evasion-overlap-badsum.pcap       just before the GET: a copy of its segment (same seq,
#                                         same length) holding the first bytes of a real openssl
#                                         ClientHello record, with a WRONG TCP checksum
#  9708 evasion-overlap-ttl.pcap          the same fake copy, checksum correct, IP TTL 1 (the
#                                         router would drop it)
#  9709 evasion-overlap-conflict.pcap     the same fake copy, checksum correct, TTL 64: ambiguous
#  9710 evasion-offload.pcap              curl, captured on the client's own veth end with TX
#                                         checksum offload ON there: every client packet shows a
#                                         bad TCP checksum, every server packet a good one
#  9711 evasion-fake-clienthello.pcap     a client writes a real ClientHello record, waits 50 ms,
#                                         then writes the cleartext GET on the same connection
#                                         (see below: http.server answers the record, the GET
#                                         crosses the wire all the same)
#  9712 evasion-huge-prefix.pcap          a client writes a real ClientHello record, 80 KB of TLS
#                                         application-data records (17 03 03, random bodies,
#                                         16 KB each), then the cleartext GET, to a plain TCP
#                                         server (evasion.py serve-raw) that answers 200 OK
#  9713 evasion-mpls.pcap                 curl GET / 200 OK, every frame re-encapsulated in two
#                                         MPLS labels (client->server 100/16, server->client
#                                         200/17, bottom of stack on the second): this kernel has
#                                         no MPLS forwarding (CONFIG_MPLS_ROUTING unset, no
#                                         modules), so the labels are added with scapy
#  9714 evasion-flood.pcap                after the handshake: 3000 forged SYNs from another
#                                         host on the client's link (10.97.1.66) to random ports
#                                         of the server, each a distinct connection
# The ClientHello record comes from `openssl s_client` talking to evasion.py on 127.0.0.1:9700
# in the client's namespace. In evasion-fake-clienthello.pcap, http.server reads the record up
# to its first 0x0a byte as a request line (every OpenSSL ClientHello has one: the
# supported_groups extension is type 0x000a), cannot parse it, and answers as to an HTTP/0.9
# request: a bare HTML error page "Error code: 400" without status line or headers; it closes
# before the GET arrives, and the server's kernel answers the GET with a RST.
#
# Every capture is checked with tshark (evasion.py check). Needs root (namespaces, tcpdump).
set -euo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$HERE"
ONLY="${ONLY:-}"          # names of captures to make (without evasion- and .pcap); '' = all
KEEP_WORK="${KEEP_WORK:-0}"

die() { echo "make-evasion-samples.sh: $*" >&2; exit 1; }
log() { printf '== %s\n' "$*" >&2; }

[[ $EUID -eq 0 ]] || die "run as root (network namespaces, tcpdump)"

# ---------------------------------------------------------------- tools
missing=()
for t in tcpdump:tcpdump tshark:tshark openssl:openssl curl:curl python3:python3 ip:iproute2 \
         ss:iproute2 ethtool:ethtool timeout:coreutils; do
    command -v "${t%%:*}" >/dev/null 2>&1 || missing+=("${t#*:}")
done
if ((${#missing[@]})); then
    log "installing: ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# a python3 with scapy: this one, else Debian's python3 with python3-scapy, else pip
has_scapy() { "$1" -c 'import scapy.all' >/dev/null 2>&1; }
PY=${PYTHON:-python3}
if ! has_scapy "$PY"; then
    if [[ -x /usr/bin/python3 ]] && ! has_scapy /usr/bin/python3; then
        log "installing python3-scapy"
        { apt-get install -y -qq python3-scapy || { apt-get update -qq && apt-get install -y -qq python3-scapy; }; } >/dev/null || true
    fi
    if [[ -x /usr/bin/python3 ]] && has_scapy /usr/bin/python3; then
        PY=/usr/bin/python3
    else
        log "installing scapy with pip"
        "$PY" -m pip install -q scapy || "$PY" -m pip install -q --break-system-packages scapy
        has_scapy "$PY" || die "no python3 with scapy"
    fi
fi
PY=$(command -v "$PY")
EV=("$PY" "$HERE/evasion.py")

# ---------------------------------------------------------------- network namespaces
NS_C=mtlscan-ev-c NS_R=mtlscan-ev-r NS_S=mtlscan-ev-s
CLI_IP=10.97.1.2 RTR_C_IP=10.97.1.1 RTR_S_IP=10.97.2.1 SRV_IP=10.97.2.2
CLI_MAC=02:97:00:01:00:02 RTR_C_MAC=02:97:00:01:00:01 RTR_S_MAC=02:97:00:02:00:01 SRV_MAC=02:97:00:02:00:02
IN_C=(ip netns exec "$NS_C") IN_S=(ip netns exec "$NS_S")
ns_down() { local ns; for ns in "$NS_C" "$NS_R" "$NS_S"; do ip netns del "$ns" 2>/dev/null || true; done; }
ns_up() {
    ns_down
    local ns
    for ns in "$NS_C" "$NS_R" "$NS_S"; do
        ip netns add "$ns"
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip -n "$ns" link set lo up
    done
    ip link add ev-c netns "$NS_C" address "$CLI_MAC" type veth peer name ev-rc netns "$NS_R" address "$RTR_C_MAC"
    ip link add ev-s netns "$NS_S" address "$SRV_MAC" type veth peer name ev-rs netns "$NS_R" address "$RTR_S_MAC"
    ip -n "$NS_C" addr add "$CLI_IP/24" dev ev-c
    ip -n "$NS_R" addr add "$RTR_C_IP/24" dev ev-rc
    ip -n "$NS_R" addr add "$RTR_S_IP/24" dev ev-rs
    ip -n "$NS_S" addr add "$SRV_IP/24" dev ev-s
    local dev
    for dev in "$NS_C ev-c" "$NS_R ev-rc" "$NS_R ev-rs" "$NS_S ev-s"; do
        set -- $dev
        ip netns exec "$1" ethtool -K "$2" tx off >/dev/null 2>&1 || die "ethtool -K $2 tx off failed"
        ip -n "$1" link set "$2" up
    done
    # static neighbours: no ARP on the links, nothing waits for one
    ip -n "$NS_C" neigh replace "$RTR_C_IP" lladdr "$RTR_C_MAC" dev ev-c nud permanent
    ip -n "$NS_R" neigh replace "$CLI_IP" lladdr "$CLI_MAC" dev ev-rc nud permanent
    ip -n "$NS_R" neigh replace "$SRV_IP" lladdr "$SRV_MAC" dev ev-rs nud permanent
    ip -n "$NS_S" neigh replace "$RTR_S_IP" lladdr "$RTR_S_MAC" dev ev-s nud permanent
    ip -n "$NS_C" route add default via "$RTR_C_IP"
    ip -n "$NS_S" route add default via "$RTR_S_IP"
    ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1
}

# ---------------------------------------------------------------- background processes
WORK="$(mktemp -d "${TMPDIR:-/tmp}/mtlscan-evasion.XXXXXX")"
BG=()
forget() { local p keep=(); for p in "${BG[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done; BG=("${keep[@]}"); }
cleanup() {
    local p
    for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${BG[@]}"; do wait "$p" 2>/dev/null || true; done
    if [[ $KEEP_WORK == 1 ]]; then log "raw captures and logs kept in $WORK"; else rm -rf "$WORK"; fi
    ns_down
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() { # PORT: until the server namespace listens on it (max 5 s)
    local i
    for ((i = 0; i < 100; i++)); do
        "${IN_S[@]}" ss -Hltn "sport = :$1" | grep -q . && return 0
        sleep 0.05
    done
    die "nothing listens on port $1"
}

CAP_PID=
cap_start() { # FILE PORT: tcpdump on the client's veth end, that connection's port only
    local err="$WORK/tcpdump.err" i
    rm -f "$1"
    "${IN_C[@]}" tcpdump -i ev-c -s 0 -B 32768 -U --immediate-mode -n -Z root -w "$1" \
        "tcp port $2" 2>"$err" &
    CAP_PID=$!
    BG+=("$CAP_PID")
    for ((i = 0; i < 200; i++)); do
        grep -q 'listening on' "$err" && return 0
        kill -0 "$CAP_PID" 2>/dev/null || break
        sleep 0.05
    done
    cat "$err" >&2
    die "tcpdump did not start for $1"
}
cap_stop() { # let the last ACKs through, then stop tcpdump (it flushes on SIGINT)
    sleep 0.2
    kill -INT "$CAP_PID"
    wait "$CAP_PID" || true
    forget "$CAP_PID"
    local got seen
    got=$(sed -n 's/^\([0-9]*\) packets captured$/\1/p' "$WORK/tcpdump.err")
    seen=$(sed -n 's/^\([0-9]*\) packets received by filter$/\1/p' "$WORK/tcpdump.err")
    if ! grep -q '^0 packets dropped by kernel' "$WORK/tcpdump.err" || [[ -z $got || $got != "$seen" ]]; then
        cat "$WORK/tcpdump.err" >&2
        die "tcpdump lost packets"
    fi
}

SRV_PID=
srv_start() { # KIND PORT: 'http' (python3 -m http.server) or 'raw' (evasion.py serve-raw)
    if [[ $1 == http ]]; then
        "${IN_S[@]}" "$PY" -m http.server "$2" --bind "$SRV_IP" --directory "$WWW" \
            >"$WORK/srv.$2.log" 2>&1 </dev/null &
    else
        "${IN_S[@]}" timeout 30 "${EV[@]}" serve-raw --host "$SRV_IP" --port "$2" \
            >"$WORK/srv.$2.log" 2>&1 </dev/null &
    fi
    SRV_PID=$!
    BG+=("$SRV_PID")
    wait_port "$2"
}
srv_stop() { # KIND
    if [[ $1 == http ]]; then kill "$SRV_PID" 2>/dev/null || true; fi
    wait "$SRV_PID" 2>/dev/null || true
    forget "$SRV_PID"
}

URL_PATH='/secret/report?id=7'
client_py() { # PORT [evasion.py get options]: the python client, 50 ms pause after connect
    local port=$1
    shift
    "${IN_C[@]}" timeout 20 "${EV[@]}" get --host "$SRV_IP" --port "$port" "$@"
}
client_curl() { # PORT
    "${IN_C[@]}" timeout 20 curl -sS -o /dev/null -w '%{http_code}\n' \
        -H 'Authorization: Bearer t0k3n' "http://$SRV_IP:$1$URL_PATH"
}

SUMMARY="$WORK/summary.txt"
: >"$SUMMARY"
# capture NAME PORT SERVER CASE CLIENT [client args]: capture one real exchange, inject, check
capture() {
    local name=$1 port=$2 kind=$3 case=$4 client=$5 raw short
    shift 5
    raw="$WORK/$name.raw.pcap"
    short=${name#evasion-} short=${short%.pcap}
    if [[ -n $ONLY && " $ONLY " != *" $short "* ]]; then return 0; fi
    log "$name"
    srv_start "$kind" "$port"
    cap_start "$raw" "$port"
    "$client" "$port" "$@" >"$WORK/$name.cli.log" 2>&1 || { cat "$WORK/$name.cli.log" >&2; die "$name: the client failed"; }
    cap_stop
    srv_stop "$kind"
    "${EV[@]}" inject "$case" --in "$raw" --out "$OUT/$name" --manifest "$WORK/$name.json" \
        --clienthello "$WORK/clienthello.bin" | tee -a "$SUMMARY" >&2
    "${EV[@]}" check "$case" "$OUT/$name" --manifest "$WORK/$name.json" >&2
}

# ---------------------------------------------------------------- the captures
ns_up
WWW="$WORK/www"
mkdir -p "$WWW/secret"
printf 'quarterly report 7: confidential\n' >"$WWW/secret/report"

log "a real ClientHello record from openssl s_client"
"${IN_C[@]}" timeout 60 "${EV[@]}" clienthello --port 9700 --out "$WORK/clienthello.bin" >&2

capture evasion-rst-before-synack.pcap  9701 http rst-before-synack client_py
capture evasion-rst-out-of-window.pcap  9702 http rst-out-of-window client_py
capture evasion-rst-in-window.pcap      9703 http rst-in-window     client_py
capture evasion-rst-exact.pcap          9704 http rst-exact         client_py
capture evasion-fin-out-of-window.pcap  9705 http fin-out-of-window client_py
capture evasion-fin-exact.pcap          9706 http fin-exact         client_py
capture evasion-overlap-badsum.pcap     9707 http overlap-badsum    client_py
capture evasion-overlap-ttl.pcap        9708 http overlap-ttl       client_py
capture evasion-overlap-conflict.pcap   9709 http overlap-conflict  client_py
# TX checksum offload on the client's end: the kernel leaves the TCP checksum to the "NIC",
# and tcpdump on the sending host sees the packet before it is filled in
"${IN_C[@]}" ethtool -K ev-c tx on >/dev/null
capture evasion-offload.pcap            9710 http offload           client_curl
"${IN_C[@]}" ethtool -K ev-c tx off >/dev/null
capture evasion-fake-clienthello.pcap   9711 http fake-clienthello  client_py --prefix "$WORK/clienthello.bin"
capture evasion-huge-prefix.pcap        9712 raw  huge-prefix       client_py --prefix "$WORK/clienthello.bin" --appdata-kb 80
capture evasion-mpls.pcap               9713 http mpls              client_curl
capture evasion-flood.pcap              9714 http flood             client_py

log "done: $(ls "$OUT"/evasion-*.pcap | wc -l) captures"
cat "$SUMMARY"
ls -l "$OUT"/evasion-*.pcap >&2
