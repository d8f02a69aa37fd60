#!/usr/bin/env bash
# Captures UDP flows between real peers:
#
#   sudo samples/make-udp-samples.sh
#
# udp-dns.pcap             dig asks dnsmasq (127.0.0.2:53) for an A and an AAAA record of a
#                          cluster service name: cleartext DNS.
# udp-syslog-statsd.pcap   util-linux logger sends a syslog message over UDP (RFC 5424) and a
#                          Python statsd client a counter, to a Python listener: cleartext.
# udp-dtls.pcap           openssl s_client and s_server over DTLS 1.2 (127.0.0.5): with a client
#                          certificate the server requires (port 4444), and without (4445).
# udp-quic.pcap           an aioquic client sends one stream to an aioquic echo server
#                          (127.0.0.4:4433, the api.example.internal certificate of pki/).
# encrypted-wireguard.pcap wireguard-go runs a tunnel between two network namespaces (two
#                          "nodes"); a ping crosses it. The capture is the uplink between the
#                          namespaces: handshake initiation, response, transport data.
# tshark checks each capture (DNS queries, syslog, WireGuard message types); tests/udp.rs holds
# what mtlscan must report. Needs root (namespaces, tcpdump). Takes a few seconds.
set -euo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { echo "make-udp-samples.sh: $*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || die "run as root (namespaces, tcpdump, port 53)"

# shellcheck source=tools.sh
source "$HERE/tools.sh"
need_tools openssl:openssl dnsmasq:dnsmasq-base dig:bind9-dnsutils logger:bsdutils wireguard-go:wireguard-go \
    wg:wireguard-tools tcpdump:tcpdump tshark:tshark ip:iproute2 python3:python3

WORK=$(mktemp -d)
PIDS=()
NS_A=mtlscan-wg-a NS_B=mtlscan-wg-b
TCPDUMP=
cleanup() {
    if [[ -n $TCPDUMP ]]; then kill "$TCPDUMP" 2>/dev/null || true; fi
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    ip netns del "$NS_A" 2>/dev/null || true
    ip netns del "$NS_B" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
capture() { # FILE IFACE FILTER [NETNS]: tcpdump in the background
    local ns=()
    [[ -n ${4:-} ]] && ns=(ip netns exec "$4")
    "${ns[@]}" tcpdump -i "$2" --immediate-mode -U -w "$1" "$3" 2>"$WORK/tcpdump.log" &
    TCPDUMP=$!
    for _ in $(seq 100); do grep -q listening "$WORK/tcpdump.log" && break; sleep 0.05; done
    sleep 0.3
}
stop_capture() { sleep 0.5; kill -INT "$TCPDUMP"; wait "$TCPDUMP" 2>/dev/null || true; chmod 644 "$1"; }

# ---------------------------------------------------------------- DNS
dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces --listen-address=127.0.0.2 \
    --port=53 --address=/details.bookinfo.svc.cluster.local/10.96.0.20 \
    --address=/details.bookinfo.svc.cluster.local/fd00::20 --pid-file="$WORK/dnsmasq.pid" &
PIDS+=($!)
sleep 0.5
OUT="$HERE/udp-dns.pcap"
capture "$OUT" lo "udp port 53"
dig @127.0.0.2 +tries=1 +time=2 details.bookinfo.svc.cluster.local A | grep -q 10.96.0.20 ||
    die "dnsmasq did not answer"
dig @127.0.0.2 +tries=1 +time=2 details.bookinfo.svc.cluster.local AAAA >/dev/null
stop_capture "$OUT"
queries=$(tshark -r "$OUT" -Y 'dns.flags.response == 0' -T fields -e dns.qry.name 2>/dev/null | sort -u)
[[ $queries == details.bookinfo.svc.cluster.local ]] || die "$OUT: queries '$queries'"
echo "wrote $OUT"

# ---------------------------------------------------------------- syslog and statsd
OUT="$HERE/udp-syslog-statsd.pcap"
python3 - 127.0.0.3 5514 8125 <<'PY' &
import socket, sys
socks = []
for port in sys.argv[2:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((sys.argv[1], int(port)))
    socks.append(s)
import select, time
end = time.time() + 6
while time.time() < end:
    r, _, _ = select.select(socks, [], [], 0.2)
    for s in r:
        s.recv(65535)
PY
PIDS+=($!)
sleep 0.5
capture "$OUT" lo "udp and host 127.0.0.3"
logger --udp --rfc5424 -n 127.0.0.3 -P 5514 -t payments "card declined for order 4711"
python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"payments.declined:1|c|#env:prod", ("127.0.0.3", 8125))'
stop_capture "$OUT"
syslog=$(tshark -r "$OUT" -d udp.port==5514,syslog -Y syslog -T fields -e frame.number 2>/dev/null | wc -l)
[[ $syslog == 1 ]] || die "$OUT: $syslog syslog messages"
echo "wrote $OUT"

# ---------------------------------------------------------------- QUIC (aioquic)
python3 -c 'import aioquic' 2>/dev/null || python3 -m pip install -q aioquic
OUT="$HERE/udp-quic.pcap"
python3 "$HERE/quic_peer.py" server 127.0.0.4 4433 "$HERE/pki/api.crt" "$HERE/pki/api.key" 6 &
PIDS+=($!)
sleep 1
capture "$OUT" lo "udp port 4433"
python3 "$HERE/quic_peer.py" client 127.0.0.4 4433 "$HERE/pki/ca.crt" api.example.internal \
    "GET /payments over QUIC" || die "the QUIC exchange failed"
stop_capture "$OUT"
sni=$(tshark -r "$OUT" -Y 'tls.handshake.type == 1' -T fields -e tls.handshake.extensions_server_name 2>/dev/null | head -1)
[[ $sni == api.example.internal ]] || die "$OUT: ClientHello SNI '$sni'"
echo "wrote $OUT"

# ---------------------------------------------------------------- DTLS 1.2 (OpenSSL)
# Port 4444: the server requires a client certificate and the client presents productpage's;
# port 4445: the server asks for none.
OUT="$HERE/udp-dtls.pcap"
capture "$OUT" lo "udp and host 127.0.0.5"
dtls_flow() { # PORT SERVER_ARGS CLIENT_ARGS
    # s_server ends the connection when its own input ends: it gets one that lasts
    # shellcheck disable=SC2086
    sleep 6 | timeout 8 openssl s_server -dtls1_2 -accept "127.0.0.5:$1" \
        -cert "$HERE/pki/details.crt" -key "$HERE/pki/details.key" -CAfile "$HERE/pki/ca.crt" \
        -naccept 1 -quiet $2 >/dev/null 2>&1 &
    local server=$!
    sleep 0.5
    # shellcheck disable=SC2086
    (echo "GET /payments over DTLS"; sleep 1) | timeout 5 openssl s_client -dtls1_2 \
        -connect "127.0.0.5:$1" -CAfile "$HERE/pki/ca.crt" \
        -servername details.bookinfo.svc.cluster.local -quiet -no_ign_eof $3 >/dev/null 2>&1 ||
        die "DTLS on $1: the client failed"
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
}
dtls_flow 4444 "-Verify 1" "-cert $HERE/pki/productpage.crt -key $HERE/pki/productpage.key"
dtls_flow 4445 "" ""
stop_capture "$OUT"
certs=$(tshark -r "$OUT" -Y 'dtls.handshake.type == 11 && udp.dstport == 4444' -T fields -e frame.number 2>/dev/null | wc -l)
[[ $certs -ge 1 ]] || die "$OUT: no client Certificate to port 4444"
for port in 4444 4445; do
    data=$(tshark -r "$OUT" -Y "dtls.record.content_type == 23 && udp.dstport == $port" -T fields -e frame.number 2>/dev/null | wc -l)
    [[ $data -ge 1 ]] || die "$OUT: no application data from the client to $port"
done
echo "wrote $OUT"

# ---------------------------------------------------------------- WireGuard between two nodes
ip netns del "$NS_A" 2>/dev/null || true
ip netns del "$NS_B" 2>/dev/null || true
ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add wg-up-a netns "$NS_A" type veth peer name wg-up-b netns "$NS_B"
ip -n "$NS_A" addr add 192.168.77.1/24 dev wg-up-a
ip -n "$NS_B" addr add 192.168.77.2/24 dev wg-up-b
for ns in "$NS_A" "$NS_B"; do
    ip -n "$ns" link set lo up
    ip -n "$ns" link set "wg-up-${ns##*-}" up
    (umask 077; wg genkey > "$WORK/$ns.key")
    wg pubkey < "$WORK/$ns.key" > "$WORK/$ns.pub"
done
start_wg() { # NS ADDRESS PEER_NS PEER_UPLINK_IP PEER_TUNNEL_NET
    # each tunnel device has its own name: wireguard-go's control socket
    # (/var/run/wireguard/NAME.sock) is shared by the namespaces
    local dev="wg-${1##*-}"
    ip netns exec "$1" env WG_PROCESS_FOREGROUND=1 wireguard-go "$dev" >/dev/null 2>&1 &
    PIDS+=($!)
    for _ in $(seq 50); do [[ -S /var/run/wireguard/$dev.sock ]] && break; sleep 0.1; done
    ip netns exec "$1" wg set "$dev" listen-port 51820 private-key "$WORK/$1.key" \
        peer "$(cat "$WORK/$3.pub")" endpoint "$4:51820" allowed-ips "$5"
    ip -n "$1" addr add "$2" dev "$dev"
    ip -n "$1" link set "$dev" up
}
start_wg "$NS_A" 10.77.0.1/24 "$NS_B" 192.168.77.2 10.77.0.2/32
start_wg "$NS_B" 10.77.0.2/24 "$NS_A" 192.168.77.1 10.77.0.1/32
OUT="$HERE/encrypted-wireguard.pcap"
capture "$OUT" wg-up-a "udp port 51820" "$NS_A"
# a Python client in one node and an echo server in the other talk through the tunnel
ip netns exec "$NS_B" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.77.0.2", 5000))
s.settimeout(10)
for _ in range(3):
    data, peer = s.recvfrom(2048)
    s.sendto(data.upper(), peer)
' &
PIDS+=($!)
sleep 0.5
ip netns exec "$NS_A" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for i in range(3):
    s.sendto(b"GET /payments/%d through the tunnel" % i, ("10.77.0.2", 5000))
    assert s.recvfrom(2048)[0].startswith(b"GET /PAYMENTS")
' || die "no answer through the tunnel"
stop_capture "$OUT"
types=$(tshark -r "$OUT" -d udp.port==51820,wg -T fields -e wg.type 2>/dev/null | sort -u | tr '\n' ' ')
[[ $types == "1 2 4 " ]] || die "$OUT: WireGuard message types '$types', not '1 2 4'"
echo "wrote $OUT"
