#!/usr/bin/env bash
# Regenerates the sample captures in this folder from real TLS / HTTP peers on loopback.
#
#   sudo samples/make-samples.sh          # reuses samples/pki/ if present (REUSE_PKI=1)
#   sudo REUSE_PKI=0 samples/make-samples.sh   # new CA and leaves, written to samples/pki/
#   sudo ONLY=rustls samples/make-samples.sh   # only the rustls-* captures (keeps the others)
#   sudo ONLY=fragmented samples/make-samples.sh   # only the fragmented-* captures (keeps the others)
#   sudo ONLY=resumed samples/make-samples.sh   # only the resumed-* captures (keeps the others)
#
# Peers: openssl s_server / s_client, curl, python3 -m http.server, and the rustls peer of
# examples/tls_peer.rs (built with cargo), captured with tcpdump. The fragmented-* captures put
# the peers in network namespaces (ip netns) whose links make the kernel fragment IP packets.
# Every capture is checked with tshark and samples/expected.tsv is derived from the captures
# (see derive_expected.py). Needs root (tcpdump). Finishes in well under a minute.
set -euo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$HERE"
PKI_DIR="$HERE/pki"
REUSE_PKI="${REUSE_PKI:-1}"
ONLY="${ONLY:-}"       # '' (everything), 'rustls', 'fragmented' or 'resumed' (those captures alone)
CARGO="${CARGO:-cargo}"

die() { echo "make-samples.sh: $*" >&2; exit 1; }
log() { printf '== %s\n' "$*" >&2; }

[[ $EUID -eq 0 ]] || die "run as root (tcpdump needs CAP_NET_RAW, servers bind fixed ports)"
[[ -z $ONLY || $ONLY == rustls || $ONLY == fragmented || $ONLY == resumed ]] ||
    die "ONLY is '', 'rustls', 'fragmented' or 'resumed', not '$ONLY'"
command -v "$CARGO" >/dev/null 2>&1 || die "cargo not found (set CARGO=/path/to/cargo): it builds the rustls peer"

# ---------------------------------------------------------------- tools
missing=()
for t in tcpdump:tcpdump tshark:tshark editcap:tshark mergecap:tshark openssl:openssl \
         curl:curl python3:python3 ss:iproute2 ip:iproute2 gzip:gzip timeout:coreutils; do
    command -v "${t%%:*}" >/dev/null 2>&1 || missing+=("${t#*:}")
done
if ((${#missing[@]})); then
    log "installing: ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# ---------------------------------------------------------------- network namespaces
# Commands of the capture, the servers and the clients run in these namespaces (empty: here).
CAP_NS=() SRV_NS=() CLI_NS=()
NS_A=mtlscan-frag-a NS_B=mtlscan-frag-b NS_R=mtlscan-frag-r
ns_down() { local ns; for ns in "$NS_A" "$NS_B" "$NS_R"; do ip netns del "$ns" 2>/dev/null || true; done; }

# ---------------------------------------------------------------- background processes
WORK="$(mktemp -d "${TMPDIR:-/tmp}/mtlscan-samples.XXXXXX")"
BG=()
forget() { local p keep=(); for p in "${BG[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done; BG=("${keep[@]}"); }
cleanup() {
    local p
    for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${BG[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap 'cleanup; ns_down' EXIT
trap 'exit 130' INT TERM

wait_port() { # PORT: poll until something listens on 127.0.0.1:PORT (max 5 s)
    local i
    for ((i = 0; i < 100; i++)); do
        "${SRV_NS[@]}" ss -Hltn "sport = :$1" | grep -q . && return 0
        sleep 0.05
    done
    die "nothing listens on port $1"
}

CAP_PID=
cap_start() { # FILE IFACE LINKTYPE(or '') FILTER
    local file=$1 iface=$2 lt=$3 filter=$4 err="$WORK/tcpdump.err" i
    local args=(-i "$iface" -s 0 -B 32768 -U --immediate-mode -n -Z root -w "$file")
    [[ -n $lt ]] && args+=(-y "$lt")
    rm -f "$file"
    "${CAP_NS[@]}" tcpdump "${args[@]}" "$filter" 2>"$err" &
    CAP_PID=$!
    BG+=("$CAP_PID")
    for ((i = 0; i < 200; i++)); do
        grep -q 'listening on' "$err" && return 0
        kill -0 "$CAP_PID" 2>/dev/null || break
        sleep 0.05
    done
    cat "$err" >&2
    die "tcpdump did not start for $file"
}
cap_stop() { # let the last ACKs through, then stop tcpdump cleanly (it flushes on SIGINT)
    sleep 0.2
    kill -INT "$CAP_PID"
    wait "$CAP_PID" || true
    forget "$CAP_PID"
    grep -E 'packets (captured|dropped by kernel)' "$WORK/tcpdump.err" | tr '\n' ' ' >&2; echo >&2
    grep -q '^0 packets dropped by kernel' "$WORK/tcpdump.err" || die "tcpdump dropped packets"
}

# ---------------------------------------------------------------- peers
SRV_PID=
HOST=127.0.0.1  # listen address of the next server ([::1] for IPv6)
srv() { # NAME PORT s_server-args... ; one TLS listener on $HOST:PORT, exits after -naccept
    local name=$1 port=$2
    shift 2
    (cd "$WWW" && exec "${SRV_NS[@]}" timeout 20 openssl s_server -accept "$HOST:$port" "$@") \
        >"$WORK/$name.srv.log" 2>&1 </dev/null &
    SRV_PID=$!
    BG+=("$SRV_PID")
    wait_port "$port"
}
srv_wait() { wait "$SRV_PID" || true; forget "$SRV_PID"; }

KEYLOG=     # if set, s_client also writes its NSS key log there
CLI_DELAY=0 # seconds the client waits after the handshake before it sends its line
cli() { # NAME s_client-args... ; sends one line, then CLOSE (s_server -rev then closes)
    local name=$1 kl=$ALLKEYS
    shift
    [[ -n $KEYLOG ]] && kl=$KEYLOG
    { sleep "$CLI_DELAY"; printf 'GET /details/0 from productpage\nCLOSE\n'; } 2>/dev/null |
        "${CLI_NS[@]}" timeout 10 openssl s_client -ign_eof -keylogfile "$kl" "$@" >"$WORK/$name.cli.log" 2>&1 || true
    if [[ -n $KEYLOG ]]; then cat "$KEYLOG" >>"$ALLKEYS"; fi
}

TSV=  # expected.tsv being checked by expect
expect() { # FILE VERDICT... : the verdicts of FILE in $TSV, flow by flow
    local file=$1 got
    shift
    got=$(awk -F'\t' -v f="$file" '$1 == f { printf "%s ", $4 }' "$TSV")
    [[ "$got" == "$* " ]] || die "$file: expected verdicts '$*', tshark shows '$got'"
}
expect_notes() { # FILE ORDER KEY=VALUE... : notes (and client_cert=) of the ORDER-th flow of FILE in $TSV
    local file=$1 order=$2 kv notes
    shift 2
    notes=$(awk -F'\t' -v f="$file" -v o="order=$order" \
        '$1 == f && (";" $6 ";") ~ (";" o ";") { print ";client_cert=" $5 ";" $6 ";" }' "$TSV")
    [[ -n $notes ]] || die "$file: no flow $order"
    for kv in "$@"; do
        [[ $notes == *";$kv;"* ]] || die "$file flow $order: expected $kv, tshark shows '$notes'"
    done
}

HTTP_PID=
http_start() { # PORT: python3 -m http.server on 127.0.0.1:PORT
    "${SRV_NS[@]}" python3 -m http.server "$1" --bind "${HOST//[\[\]]/}" --directory "$WWW" >"$WORK/http.$1.log" 2>&1 </dev/null &
    HTTP_PID=$!
    BG+=("$HTTP_PID")
    wait_port "$1"
}
http_stop() { kill "$HTTP_PID" 2>/dev/null || true; wait "$HTTP_PID" 2>/dev/null || true; forget "$HTTP_PID"; }

curl_plain() { # PORT [PATH]: GET with credentials in headers (the tool must redact them)
    "${CLI_NS[@]}" curl -sS -o /dev/null --max-time 5 \
        -H 'Authorization: Bearer s3cr3t-token' \
        -H 'Cookie: session=c00k13-s3cr3t; theme=dark' \
        "http://$HOST:$1/${2:-productpage?u=normal}" || true
}

ISTIO_SNI=outbound_.9080_._.details.bookinfo.svc.cluster.local
ISTIO_ALPN=istio-peer-exchange,istio
P=$WORK/pki

# s_server side of the mesh: details workload, certificate chain leaf + CA (auto-built from -CAfile)
MESH_SRV=(-cert "$P/details.crt" -key "$P/details.key" -CAfile "$P/ca.crt" -alpn istio -rev)
# s_client side: productpage workload (ECDSA) or reviews workload (RSA)
MESH_CLI=(-cert "$P/productpage.crt" -key "$P/productpage.key" -CAfile "$P/ca.crt"
          -servername "$ISTIO_SNI" -alpn "$ISTIO_ALPN")
RSA_CLI=(-cert "$P/reviews.crt" -key "$P/reviews.key" -CAfile "$P/ca.crt"
         -servername "$ISTIO_SNI" -alpn "$ISTIO_ALPN")
# client without any trust store: OpenSSL then sends the bare leaf (no auto-built chain)
MESH_CLI_LEAF=(-cert "$P/productpage.crt" -key "$P/productpage.key" -no-CAfile -no-CApath -no-CAstore
               -servername "$ISTIO_SNI" -alpn "$ISTIO_ALPN")
API_SRV=(-cert "$P/api.crt" -key "$P/api.key" -CAfile "$P/ca.crt")

# ---- one flow of each kind (the server is started and waited for inside)
flow_tls12_mtls() { # PORT  (client sends its leaf only)
    srv tls12-mtls.$1 "$1" -naccept 1 -tls1_2 -Verify 1 "${MESH_SRV[@]}"
    cli tls12-mtls.$1 -connect "127.0.0.1:$1" -tls1_2 "${MESH_CLI_LEAF[@]}"
    srv_wait
}
flow_tls13_mtls() { # PORT [extra s_client args]
    local port=$1
    shift
    srv tls13-mtls.$port "$port" -naccept 1 -tls1_3 -Verify 1 "${MESH_SRV[@]}"
    cli tls13-mtls.$port -connect "$HOST:$port" -tls1_3 "${MESH_CLI[@]}" "$@"
    srv_wait
}
flow_tls13_mtls_rsa() { # PORT
    srv tls13-mtls-rsa.$1 "$1" -naccept 1 -tls1_3 -Verify 1 "${MESH_SRV[@]}"
    cli tls13-mtls-rsa.$1 -connect "127.0.0.1:$1" -tls1_3 "${RSA_CLI[@]}"
    srv_wait
}
flow_curl_https() { # PORT VERSION(1.2|1.3): curl to s_server -WWW (serves files from $WWW)
    local v=$2
    srv curl-https.$1 "$1" -naccept 1 -tls"${v/./_}" -WWW "${API_SRV[@]}"
    SSLKEYLOGFILE=$ALLKEYS curl -sS -o /dev/null --max-time 5 --cacert "$P/ca.crt" \
        --tlsv"$v" --tls-max "$v" --resolve "api.example.internal:$1:127.0.0.1" \
        "https://api.example.internal:$1/index.html" || true
    srv_wait
}
flow_http() { # PORT
    http_start "$1"
    curl_plain "$1"
    http_stop
}
flow_http_to_tls() { # PORT: plaintext HTTP request to a TLS-only listener
    srv http-to-tls.$1 "$1" -naccept 1 "${MESH_SRV[@]}"
    curl_plain "$1"
    srv_wait
}
flow_tcp_probe() { # PORT: TCP connect + close, no payload (kubelet-style tcpSocket probe)
    http_start "$1"
    (exec 3<>"/dev/tcp/127.0.0.1/$1") || true
    sleep 0.1
    http_stop
}

# ---------------------------------------------------------------- PKI
mkleaf() { # NAME KEYTYPE(ec|rsa) SERIAL SUBJECT SAN EKU
    local name=$1 kt=$2 serial=$3 subj=$4 san=$5 eku=$6
    if [[ $kt == ec ]]; then
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$P/$name.key" 2>/dev/null
    else
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$P/$name.key" 2>/dev/null
    fi
    cat >"$P/$name.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$eku
subjectAltName=critical,$san
authorityKeyIdentifier=keyid
EOF
    openssl req -new -key "$P/$name.key" -subj "$subj" -out "$P/$name.csr" 2>/dev/null
    openssl x509 -req -in "$P/$name.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -set_serial "$serial" \
        -days 3650 -sha256 -extfile "$P/$name.ext" -out "$P/$name.crt" 2>/dev/null
    rm -f "$P/$name.csr" "$P/$name.ext"
}
PKI_FILES=(ca productpage details reviews api)
pki_usable() {
    local n
    for n in "${PKI_FILES[@]}"; do
        [[ -s $PKI_DIR/$n.crt && -s $PKI_DIR/$n.key ]] || return 1
        openssl x509 -in "$PKI_DIR/$n.crt" -noout -checkend $((30 * 86400)) >/dev/null || return 1
    done
}
mkdir -p "$P"
if [[ -n $ONLY ]] && ! { [[ $REUSE_PKI == 1 ]] && pki_usable; }; then
    die "ONLY=$ONLY reuses samples/pki/: a new PKI needs a full run"
fi
if [[ $REUSE_PKI == 1 ]] && pki_usable; then
    log "reusing PKI from samples/pki"
    cp "$PKI_DIR"/*.crt "$PKI_DIR"/*.key "$P/"
else
    log "creating a new test PKI"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$P/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$P/ca.key" -subj "/O=cluster.local" -days 3650 -sha256 \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -set_serial 0x01 -out "$P/ca.crt" 2>/dev/null
    # Istio-style workload certificates: empty subject, critical URI SAN (SPIFFE ID)
    mkleaf productpage ec 0x1001 "/" "URI:spiffe://cluster.local/ns/bookinfo/sa/productpage" serverAuth,clientAuth
    mkleaf details ec 0x1002 "/" "URI:spiffe://cluster.local/ns/bookinfo/sa/details" serverAuth,clientAuth
    mkleaf reviews rsa 0x1003 "/" "URI:spiffe://cluster.local/ns/bookinfo/sa/reviews" serverAuth,clientAuth
    # plain server certificate (not a mesh workload)
    mkleaf api rsa 0x2001 "/CN=api.example.internal" "DNS:api.example.internal" serverAuth
    mkdir -p "$PKI_DIR"
    for n in "${PKI_FILES[@]}"; do cp "$P/$n.crt" "$P/$n.key" "$PKI_DIR/"; done
fi

WWW=$WORK/www
mkdir -p "$WWW"
printf '<html><body>productpage</body></html>\n' >"$WWW/productpage"
printf 'api.example.internal: ok\n' >"$WWW/index.html"
# a page larger than one segment: its segments are the ones that get fragmented
python3 -c "print('<html><body>' + ''.join('<p>review %d: %s</p>' % (i, 'x' * 40) for i in range(400)) + '</body></html>')" >"$WWW/reviews"
ALLKEYS=$WORK/all.keys   # key log of every TLS client: lets the checks decrypt TLS 1.3
: >"$ALLKEYS"

cd "$OUT"
if [[ $ONLY == rustls ]]; then
    rm -f ./rustls-*.pcap ./rustls-*.keys
elif [[ $ONLY == fragmented ]]; then
    rm -f ./fragmented-*.pcap
elif [[ $ONLY == resumed ]]; then
    rm -f ./resumed-*.pcap ./resumed-*.keys
else
    # every capture but the sidecar and evasion ones, which make-mesh-sample.sh and
    # make-evasion-samples.sh make
    find . -maxdepth 1 -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.keys' -o -name '*.gz' \) \
        ! -name 'mesh-*' ! -name 'evasion-*' -delete
fi

only_done() { # 'PREFIX...' CHECK: derive the lines of the files named PREFIX* (several prefixes
    # separated by spaces) in expected.tsv, check them, keep the other lines. A capture that was not
    # made again in this run (no keys for its TLS 1.3 flows in $ALLKEYS) takes the facts that only
    # decryption shows from its current lines (derive_expected.py --previous).
    local prefixes=($1) check=$2 p only=() re=
    for p in "${prefixes[@]}"; do only+=(--only "$p"); re+="${re:+|}^${p//./\\.}"; done
    log "deriving the ${prefixes[*]/%/*} lines of expected.tsv with tshark"
    python3 "$HERE/derive_expected.py" --keys "$ALLKEYS" --dir "$OUT" "${only[@]}" \
        --previous "$OUT/expected.tsv" >"$WORK/only.tsv"
    TSV=$WORK/only.tsv
    "$check"
    # the other lines stay; files in name order, flows in capture order
    { head -n 1 expected.tsv
      { tail -n +2 expected.tsv | grep -Ev "$re" || true; tail -n +2 "$WORK/only.tsv"; } |
          sort -s -t "$(printf '\t')" -k1,1
    } >"$WORK/expected.tsv"
    cp "$WORK/expected.tsv" "$OUT/expected.tsv"
    log "done: ${prefixes[*]/%/*} captures in samples/"
    for p in "${prefixes[@]}"; do ls -l "$OUT"/"$p"* >&2; done
    exit 0
}

# ---------------------------------------------------------------- fragmented captures
# The same flows as elsewhere (TLS 1.3 mTLS, a plaintext GET of a page larger than a segment),
# between peers in two network namespaces joined by a veth pair with an MTU of 1500, captured on
# the server's end. The links are set up so that the kernel fragments IP packets, as it does in
# clusters whose MTUs disagree: each capture holds IP fragments that only reassembly turns back
# into the TCP segments of the flows.
ns_up() { # makes $NS_A and $NS_B, joined by va (in A) and vb (in B), loopback up
    ns_down
    ip netns add "$NS_A"
    ip netns add "$NS_B"
    ip link add va netns "$NS_A" type veth peer name vb netns "$NS_B"
    ip -n "$NS_A" link set lo up
    ip -n "$NS_B" link set lo up
}
# An overlay whose MTU (1550) is larger than its underlay (1500) can carry once VXLAN's 50 bytes
# are added (an overlay MTU set without them): every full-size inner packet leaves the node as
# two fragments of one UDP datagram. Server in B (10.244.1.3), client in A (10.244.1.2).
vxlan_up() {
    local a=192.0.2.1 b=192.0.2.2
    ns_up
    ip -n "$NS_A" link set va mtu 1600 up
    ip -n "$NS_B" link set vb mtu 1600 up
    ip -n "$NS_A" addr add "$a/24" dev va
    ip -n "$NS_B" addr add "$b/24" dev vb
    ip -n "$NS_A" link add vx0 type vxlan id 42 local "$a" remote "$b" dstport 4789 dev va
    ip -n "$NS_B" link add vx0 type vxlan id 42 local "$b" remote "$a" dstport 4789 dev vb
    ip -n "$NS_A" link set vx0 mtu 1550 up
    ip -n "$NS_B" link set vx0 mtu 1550 up
    # the underlay shrinks under the overlay, which keeps its MTU
    ip -n "$NS_A" link set va mtu 1500
    ip -n "$NS_B" link set vb mtu 1500
    ip -n "$NS_A" addr add 10.244.1.2/24 dev vx0
    ip -n "$NS_B" addr add 10.244.1.3/24 dev vx0
    CAP_NS=(ip netns exec "$NS_B") SRV_NS=(ip netns exec "$NS_B") CLI_NS=(ip netns exec "$NS_A")
    HOST=10.244.1.3
}
# TCP fragmented on the way: the server in A sends without Don't Fragment
# (net.ipv4.ip_no_pmtu_disc=1), a router namespace R forwards onto a link of MTU 1280 toward the
# client in B, which announces an MSS of 1460 (its route's advmss). Full-size segments from the
# server reach the client as IPv4 fragments of TCP.
routed_up() {
    ns_down
    ip netns add "$NS_A"
    ip netns add "$NS_B"
    ip netns add "$NS_R"
    ip link add va netns "$NS_A" type veth peer name ra netns "$NS_R"
    ip link add vb netns "$NS_B" type veth peer name rb netns "$NS_R"
    local ns
    for ns in "$NS_A" "$NS_B" "$NS_R"; do ip -n "$ns" link set lo up; done
    ip -n "$NS_A" addr add 10.0.1.1/24 dev va
    ip -n "$NS_R" addr add 10.0.1.254/24 dev ra
    ip -n "$NS_R" addr add 10.0.2.254/24 dev rb
    ip -n "$NS_B" addr add 10.0.2.1/24 dev vb
    ip -n "$NS_R" link set rb mtu 1280
    ip -n "$NS_B" link set vb mtu 1280
    for dev in "$NS_A va" "$NS_R ra" "$NS_R rb" "$NS_B vb"; do ip -n ${dev% *} link set ${dev#* } up; done
    ip -n "$NS_A" route add 10.0.2.0/24 via 10.0.1.254
    ip -n "$NS_B" route add 10.0.1.0/24 via 10.0.2.254 advmss 1460
    ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$NS_A" sysctl -qw net.ipv4.ip_no_pmtu_disc=1
    CAP_NS=(ip netns exec "$NS_B") SRV_NS=(ip netns exec "$NS_A") CLI_NS=(ip netns exec "$NS_B")
    HOST=10.0.1.1
}
# the flows of each fragmented capture; the server presents the RSA workload certificate, so
# that its first flight outgrows one packet
FRAG_SRV=(-cert "$P/reviews.crt" -key "$P/reviews.key" -CAfile "$P/ca.crt" -alpn istio -rev)
fragmented_flows() { # PORT_BASE
    srv fragmented-mtls.$1 "$1" -naccept 1 -tls1_3 -Verify 1 "${FRAG_SRV[@]}"
    cli fragmented-mtls.$1 -connect "$HOST:$1" -tls1_3 "${MESH_CLI[@]}"
    srv_wait
    http_start $(($1 + 1))
    curl_plain $(($1 + 1)) reviews
    http_stop
}
FRAG_FILTER='tcp or udp port 4789 or (ip[6:2] & 0x3fff != 0)'
make_fragmented() {
    local ok=0 saved_host=$HOST
    for spec in "fragmented-vxlan.pcap vxlan_up 9580" "fragmented-tcp.pcap routed_up 9780"; do
        set -- $spec
        log "$1"
        "$2"
        cap_start "$1" vb '' "$FRAG_FILTER"
        fragmented_flows "$3"
        cap_stop
        ns_down
        CAP_NS=() SRV_NS=() CLI_NS=()
        HOST=$saved_host
        # the point of these captures: fragments of the flows' packets
        [[ $(tshark -r "$1" -Y 'ip.flags.mf == 1 || ipv6.fraghdr.more == 1' 2>/dev/null | wc -l) -gt 0 ]] ||
            die "$1 holds no IP fragments"
    done
}
expect_fragmented() {
    expect fragmented-tcp.pcap mtls plaintext
    expect fragmented-vxlan.pcap mtls plaintext
}
if [[ $ONLY == fragmented ]]; then
    make_fragmented
    only_done fragmented- expect_fragmented
fi

# ---------------------------------------------------------------- rustls captures
# A second TLS stack: rustls (examples/tls_peer.rs) coalesces the client's encrypted flight
# (Certificate + CertificateVerify + Finished) into ONE record, where OpenSSL sends one record per
# message. The peer answers the line reversed, like s_server -rev.
log "building the rustls peer (examples/tls_peer.rs)"
(cd "$HERE/.." && "$CARGO" build --quiet --release --example tls_peer) || die "cargo build failed"
PEER=${CARGO_TARGET_DIR:-$HERE/../target}/release/examples/tls_peer
[[ -x $PEER ]] || die "no $PEER after the build"
ANSWER=egaptcudorp\ morf\ 0/sliated/\ TEG   # the client's line, reversed by the server

rsrv() { # NAME PORT tls_peer-server-args... ; one rustls listener on 127.0.0.1:PORT, one connection
    local name=$1 port=$2
    shift 2
    timeout 20 "$PEER" server --port "$port" "$@" >"$WORK/$name.srv.log" 2>&1 </dev/null &
    SRV_PID=$!
    BG+=("$SRV_PID")
    wait_port "$port"
}
rcli() { # NAME tls_peer-client-args... ; sends one line, must get it back reversed
    local name=$1 kl=$ALLKEYS
    shift
    [[ -n $KEYLOG ]] && kl=$KEYLOG
    timeout 10 "$PEER" client --keylog "$kl" "$@" >"$WORK/$name.cli.log" 2>&1 </dev/null || true
    if [[ -n $KEYLOG ]]; then cat "$KEYLOG" >>"$ALLKEYS"; fi
    grep -qF "$ANSWER" "$WORK/$name.cli.log" || { cat "$WORK/$name.cli.log" >&2; die "rustls client $name got no answer"; }
}
# Checks, with the keys, that the client's encrypted flight is ONE record holding HANDSHAKE_TYPES
# (11 Certificate, 15 CertificateVerify, 20 Finished) after the CCS.
coalesced() { # FILE PORT HANDSHAKE_TYPES
    local got
    got=$(tshark -n -r "$1" -o "tls.keylog_file:$ALLKEYS" -Y "tcp.dstport == $2 && tls.handshake.type == 20" \
          -T fields -E occurrence=a -E aggregator=, -e tls.record.opaque_type -e tls.handshake.type 2>/dev/null)
    [[ $got == "23	$3" ]] || die "$1: client flight is not one encrypted record of $3 (tshark: '$got')"
}
RUSTLS_MESH_SRV=(--cert "$P/details.crt" --key "$P/details.key" --alpn istio)
RUSTLS_MESH_CLI=(--ca "$P/ca.crt" --sni "$ISTIO_SNI" --alpn "$ISTIO_ALPN")
RUSTLS_CLIENT_CERT=(--cert "$P/productpage.crt" --key "$P/productpage.key")

# ---------------------------------------------------------------- resumed-* captures
# Session resumption (the second connection of a client carries no certificate at all: TLS 1.2
# by session ticket or session ID, TLS 1.3 by PSK) and pooled connections whose handshake
# happened before the capture started, as in a mesh that has warmed up. Every resumed capture
# also holds the full handshake that created the session, so that the resumed flow can be linked
# to it (TLS 1.2: the ticket or session ID in the clear; TLS 1.3: the PSK identity, which equals
# the ticket of a NewSessionTicket that only the key log decrypts).
resume_pair() { # NAME PORT SESSION s_client-args... : a full handshake that saves the session, then one that resumes it
    local name=$1 port=$2 sess=$WORK/$3.sess
    shift 3
    rm -f "$sess"
    # the short delay lets the client read the server's NewSessionTicket(s) before it talks
    CLI_DELAY=0.2 cli "$name.full" -connect "127.0.0.1:$port" "$@" -sess_out "$sess"
    [[ -s $sess ]] || die "$name: the first connection saved no session"
    grep -q '^New, ' "$WORK/$name.full.cli.log" || die "$name: the first connection was not a full handshake"
    CLI_DELAY=0.2 cli "$name.resumed" -connect "127.0.0.1:$port" "$@" -sess_in "$sess"
    grep -q '^Reused, ' "$WORK/$name.resumed.cli.log" || die "$name: the second connection was not resumed"
}
# Checks with tshark that flow RESUMED (tcp.stream, 0-based) resumed the session of flow FULL by
# MECHANISM: ticket (TLS 1.2: the client offers, in its SessionTicket extension, the ticket of
# FULL's NewSessionTicket), id (TLS 1.2: FULL's ServerHello assigned a session ID, RESUMED's
# ClientHello and ServerHello carry it, no ticket anywhere in FULL) or psk (TLS 1.3: RESUMED's
# ServerHello selects a PSK whose identity is the ticket of one of FULL's NewSessionTickets,
# decrypted with KEYS). Prints what it saw.
resumed_by() { # FILE KEYS FULL RESUMED MECHANISM
    python3 - "$@" <<'PY' || die "$1: flow $4 did not resume flow $3 by $5"
import subprocess, sys
path, keys, full, resumed, mech = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
F = ["tcp.stream", "tls.handshake.type", "tls.handshake.session_id", "tls.handshake.session_ticket",
     "tls.handshake.extension.type", "tls.handshake.extension.len", "tls.handshake.extension.data",
     "tls.handshake.extensions.psk.identity.identity", "tls.handshake.extensions.psk.identity.selected",
     "tcp.srcport", "tcp.dstport"]
cmd = ["tshark", "-n", "-r", path, "-o", "tls.keylog_file:" + keys, "-T", "fields", "-E", "occurrence=a",
       "-E", "aggregator=|", "-Y", "tls.handshake"] + [x for f in F for x in ("-e", f)]
rows = []
for line in subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines():
    v = line.split("\t") + [""] * len(F)
    rows.append({f: (v[i].split("|") if v[i] else []) for i, f in enumerate(F)})
def msgs(stream, frm_client):  # rows of one direction of a stream (the client's port is the higher)
    out = []
    for r in rows:
        if int(r["tcp.stream"][0]) == stream and (int(r["tcp.srcport"][0]) > int(r["tcp.dstport"][0])) == frm_client:
            out.append(r)
    return out
def one(rs, hs_type):
    return next(r for r in rs if hs_type in r["tls.handshake.type"])
ch1, sh1 = one(msgs(full, True), "1"), one(msgs(full, False), "2")
ch2, sh2 = one(msgs(resumed, True), "1"), one(msgs(resumed, False), "2")
tickets = [t for r in msgs(full, False) for t in r["tls.handshake.session_ticket"]]
sid = lambda r: (r["tls.handshake.session_id"] or [""])[0]
if mech == "psk":
    sel = sh2["tls.handshake.extensions.psk.identity.selected"]
    ident = ch2["tls.handshake.extensions.psk.identity.identity"][int(sel[0])] if sel else ""
    print("  PSK identity %d bytes (index %s), %d NewSessionTicket(s) in flow %d: match #%s"
          % (len(ident) // 2, sel[0] if sel else "-", len(tickets), full,
             tickets.index(ident) + 1 if ident in tickets else "none"), file=sys.stderr)
    sys.exit(0 if sel and ident in tickets else 1)
types, lens = ch2["tls.handshake.extension.type"], ch2["tls.handshake.extension.len"]
tlen = int(lens[types.index("35")]) if "35" in types else -1
offered = [d for d in ch2["tls.handshake.extension.data"] if len(d) == 2 * tlen] if tlen > 0 else []
print("  flow %d: ServerHello session ID %d bytes, %d NewSessionTicket(s); flow %d: ClientHello session ID %d"
      " bytes, SessionTicket extension %d bytes, ServerHello echoes it: %s, server handshake types %s"
      % (full, len(sid(sh1)) // 2, len(tickets), resumed, len(sid(ch2)) // 2, tlen,
         sid(sh2) == sid(ch2) != "", ",".join(t for r in msgs(resumed, False) for t in r["tls.handshake.type"])),
      file=sys.stderr)
echoed = sid(sh2) == sid(ch2) != ""
if mech == "ticket":
    ok = echoed and len(offered) == 1 and offered[0] in tickets
elif mech == "id":
    ok = echoed and not tickets and sid(sh1) != "" and sid(ch2) == sid(sh1)
else:
    ok = False
sys.exit(0 if ok else 1)
PY
}
# The pooled flows of FILE (to the given server ports) must have neither a SYN nor any handshake
# message in the capture, and their first packet must be the client's application data.
pooled_check() { # FILE PORT...
    local file=$1 port first
    shift
    for port in "$@"; do
        first=$(tshark -n -r "$file" -Y "tcp.port == $port" -T fields -e tcp.stream 2>/dev/null | head -n 1)
        [[ -n $first ]] || die "$file: no flow to port $port"
        [[ $(tshark -n -r "$file" -Y "tcp.stream == $first && (tcp.flags.syn == 1 || tls.handshake)" 2>/dev/null | wc -l) -eq 0 ]] ||
            die "$file: the pooled flow to port $port shows a SYN or a handshake"
        [[ $(tshark -n -r "$file" -Y "tcp.stream == $first && tcp.len > 0" -T fields -e tcp.dstport 2>/dev/null | head -n 1) == "$port" ]] ||
            die "$file: the pooled flow to port $port does not start with the client's data"
    done
}
# A pooled connection: s_client reads its line from a FIFO, so that it completes its handshake
# now (before the capture) and talks only when pooled_send says so.
declare -A POOL_FD POOL_PID
pooled_open() { # NAME s_client-args...
    local name=$1 fifo=$WORK/$1.fifo fd
    shift
    mkfifo "$fifo"
    exec {fd}<>"$fifo"
    timeout 30 openssl s_client -ign_eof -keylogfile "$ALLKEYS" "$@" <"$fifo" >"$WORK/$name.cli.log" 2>&1 {fd}>&- &
    POOL_FD[$name]=$fd POOL_PID[$name]=$!
    BG+=("$!")
}
pooled_send() { # NAME: the client sends its line and CLOSE; the server answers and closes
    local name=$1 fd=${POOL_FD[$1]}
    printf 'GET /details/0 from productpage\nCLOSE\n' >&"$fd"
    exec {fd}>&-
    wait "${POOL_PID[$name]}" || true
    forget "${POOL_PID[$name]}"
    grep -q 'egaptcudorp' "$WORK/$name.cli.log" || die "pooled client $name got no answer"
}
established() { # PORT...: every one has an established TCP connection with nothing left to read
    local port
    for port in "$@"; do
        ss -Htn state established "dport = :$port" | awk '$1 == 0 && $2 == 0' | grep -q . || return 1
    done
}

make_resumed() {
    local f

    f=resumed-tls12-ticket.pcap; log "$f"
    cap_start "$f" lo '' 'tcp port 9610'
    srv r12t 9610 -naccept 2 -tls1_2 -Verify 1 "${MESH_SRV[@]}"
    resume_pair r12t 9610 r12t -tls1_2 "${MESH_CLI_LEAF[@]}"
    srv_wait
    cap_stop
    resumed_by "$f" "$ALLKEYS" 0 1 ticket

    f=resumed-tls12-id.pcap; log "$f"
    cap_start "$f" lo '' 'tcp port 9611'
    srv r12i 9611 -naccept 2 -tls1_2 -Verify 1 -no_ticket "${MESH_SRV[@]}"
    resume_pair r12i 9611 r12i -tls1_2 "${MESH_CLI_LEAF[@]}"
    srv_wait
    cap_stop
    resumed_by "$f" "$ALLKEYS" 0 1 id

    f=resumed-tls12-server-only.pcap; log "$f"
    cap_start "$f" lo '' 'tcp port 9612'
    srv r12s 9612 -naccept 2 -tls1_2 "${API_SRV[@]}" -rev
    resume_pair r12s 9612 r12s -tls1_2 -CAfile "$P/ca.crt" -servername api.example.internal
    srv_wait
    cap_stop
    resumed_by "$f" "$ALLKEYS" 0 1 ticket

    # client A (certificate) and client B (none, empty Certificate) each resume their own session
    f=resumed-tls12-optional.pcap; log "$f"
    cap_start "$f" lo '' 'tcp port 9613'
    srv r12o 9613 -naccept 4 -tls1_2 -verify 1 "${MESH_SRV[@]}"
    resume_pair r12o.a 9613 r12o.a -tls1_2 "${MESH_CLI_LEAF[@]}"
    resume_pair r12o.b 9613 r12o.b -tls1_2 -CAfile "$P/ca.crt" -servername "$ISTIO_SNI" -alpn "$ISTIO_ALPN"
    srv_wait
    cap_stop
    resumed_by "$f" "$ALLKEYS" 0 1 ticket
    resumed_by "$f" "$ALLKEYS" 2 3 ticket

    # TLS 1.3: the companion key log X.keys of X-keylog.pcap decrypts the NewSessionTickets
    local spec name port keys
    for spec in "resumed-tls13 9620 mtls" "resumed-tls13-server-only 9621 so" "resumed-tls13-optional 9622 opt"; do
        set -- $spec
        name=$1 port=$2 keys=$OUT/$1.keys f=$1-keylog.pcap
        log "$f + $name.keys"
        cap_start "$f" lo '' "tcp port $port"
        KEYLOG=$keys
        rm -f "$KEYLOG"
        case $3 in
        mtls) srv "$name" "$port" -naccept 2 -tls1_3 -Verify 1 "${MESH_SRV[@]}"
              resume_pair "$name" "$port" "$name" -tls1_3 "${MESH_CLI[@]}" ;;
        so)   srv "$name" "$port" -naccept 2 -tls1_3 "${API_SRV[@]}" -rev
              resume_pair "$name" "$port" "$name" -tls1_3 -CAfile "$P/ca.crt" -servername api.example.internal ;;
        opt)  srv "$name" "$port" -naccept 2 -tls1_3 -verify 1 "${MESH_SRV[@]}"
              resume_pair "$name" "$port" "$name" -tls1_3 -CAfile "$P/ca.crt" -servername "$ISTIO_SNI" -alpn "$ISTIO_ALPN" ;;
        esac
        KEYLOG=
        srv_wait
        cap_stop
        grep -q SERVER_TRAFFIC_SECRET_0 "$keys" || die "$name.keys has no application traffic secrets"
        resumed_by "$f" "$keys" 0 1 psk
    done

    # Pooled connections: the servers and the clients' handshakes come first, the capture after.
    # s_server serves one connection at a time: each fresh client comes after its port's pooled one.
    f=resumed-pooled.pcap; log "$f"
    srv pool1 9601 -naccept 2 -tls1_3 -Verify 1 -verify_return_error "${MESH_SRV[@]}"
    local srv1=$SRV_PID
    srv pool2 9602 -naccept 2 -tls1_2 -Verify 1 "${MESH_SRV[@]}"
    local srv2=$SRV_PID
    srv pool3 9603 -naccept 2 -tls1_3 -verify 1 "${MESH_SRV[@]}"
    local srv3=$SRV_PID
    srv pool4 9604 -naccept 1 -tls1_3 "${API_SRV[@]}" -rev
    local srv4=$SRV_PID
    pooled_open pool1 -connect 127.0.0.1:9601 -tls1_3 "${MESH_CLI[@]}"
    pooled_open pool2 -connect 127.0.0.1:9602 -tls1_2 "${MESH_CLI_LEAF[@]}"
    pooled_open pool3 -connect 127.0.0.1:9603 -tls1_3 "${MESH_CLI[@]}"
    pooled_open pool4 -connect 127.0.0.1:9604 -tls1_3 -CAfile "$P/ca.crt" -servername api.example.internal
    local i
    for ((i = 0; i < 100; i++)); do established 9601 9602 9603 9604 && break; sleep 0.05; done
    sleep 0.5  # TLS 1.3: the NewSessionTickets have arrived and been read
    established 9601 9602 9603 9604 || die "the pooled connections are not idle"
    cap_start "$f" lo '' 'tcp portrange 9601-9604'
    pooled_send pool1
    CLI_DELAY=0.3 cli pool1.fresh -connect 127.0.0.1:9601 -tls1_3 -CAfile "$P/ca.crt" -servername "$ISTIO_SNI" -alpn "$ISTIO_ALPN"
    pooled_send pool2
    cli pool2.fresh -connect 127.0.0.1:9602 -tls1_2 "${MESH_CLI_LEAF[@]}"
    pooled_send pool3
    cli pool3.fresh -connect 127.0.0.1:9603 -tls1_3 -CAfile "$P/ca.crt" -servername "$ISTIO_SNI" -alpn "$ISTIO_ALPN"
    pooled_send pool4
    for SRV_PID in "$srv1" "$srv2" "$srv3" "$srv4"; do srv_wait; done
    cap_stop
    pooled_check "$f" 9601 9602 9603 9604

    # rustls: one ClientConfig for both connections, so the second resumes. TLS 1.3 with the
    # server's stateful cache (the tickets are cache keys), TLS 1.2 with stateless tickets.
    f=resumed-rustls-tls13-keylog.pcap; log "$f + resumed-rustls-tls13.keys"
    cap_start "$f" lo '' 'tcp port 9630'
    KEYLOG=$OUT/resumed-rustls-tls13.keys
    rm -f "$KEYLOG"
    rsrv rr13 9630 "${RUSTLS_MESH_SRV[@]}" --client-ca "$P/ca.crt" --require-client-cert --naccept 2
    rcli rr13 --port 9630 "${RUSTLS_MESH_CLI[@]}" "${RUSTLS_CLIENT_CERT[@]}" --connections 2
    KEYLOG=
    srv_wait
    cap_stop
    [[ $(grep -c 'client: Some(Full)' "$WORK/rr13.cli.log") == 1 && $(grep -c 'client: Some(Resumed)' "$WORK/rr13.cli.log") == 1 ]] ||
        die "$f: not one full and one resumed connection"
    resumed_by "$f" "$OUT/resumed-rustls-tls13.keys" 0 1 psk

    f=resumed-rustls-tls12.pcap; log "$f"
    cap_start "$f" lo '' 'tcp port 9631'
    rsrv rr12 9631 "${RUSTLS_MESH_SRV[@]}" --client-ca "$P/ca.crt" --require-client-cert --naccept 2 --tls12 --tickets
    rcli rr12 --port 9631 "${RUSTLS_MESH_CLI[@]}" "${RUSTLS_CLIENT_CERT[@]}" --tls12 --connections 2
    srv_wait
    cap_stop
    [[ $(grep -c 'client: Some(Full)' "$WORK/rr12.cli.log") == 1 && $(grep -c 'client: Some(Resumed)' "$WORK/rr12.cli.log") == 1 ]] ||
        die "$f: not one full and one resumed connection"
    resumed_by "$f" "$ALLKEYS" 0 1 ticket
}
expect_resumed() { # verdicts of the resumed-* captures (and of tls13-resumed.pcap) in $TSV
    expect resumed-pooled.pcap mtls tls mtls mtls tls tls tls
    expect resumed-rustls-tls12.pcap mtls mtls
    expect resumed-rustls-tls13-keylog.pcap mtls mtls
    expect resumed-tls12-id.pcap mtls mtls
    expect resumed-tls12-optional.pcap mtls mtls tls tls
    expect resumed-tls12-server-only.pcap tls tls
    expect resumed-tls12-ticket.pcap mtls mtls
    expect resumed-tls13-keylog.pcap mtls mtls
    expect resumed-tls13-optional-keylog.pcap tls tls
    expect resumed-tls13-server-only-keylog.pcap tls tls
    expect tls13-resumed.pcap mtls mtls
    # how each verdict is known: linked (TLS 1.2 in the clear; TLS 1.3 only with the key log) or
    # inferred from what the server demands in the full handshakes of the same capture
    local demand_all=demand=certificate-requested-in-every-full-handshake
    expect_notes resumed-tls12-ticket.pcap 2 client_cert=true evidence=resumed resumed_from=1 linked_by=session-ticket
    expect_notes resumed-tls12-id.pcap 2 client_cert=true evidence=resumed resumed_from=1 linked_by=session-id
    expect_notes resumed-tls12-server-only.pcap 2 client_cert=false evidence=resumed resumed_from=1 linked_by=session-ticket
    expect_notes resumed-tls12-optional.pcap 2 client_cert=true evidence=resumed resumed_from=1 linked_by=session-ticket
    expect_notes resumed-tls12-optional.pcap 3 client_cert=false evidence=observed
    expect_notes resumed-tls12-optional.pcap 4 client_cert=false evidence=resumed resumed_from=3 linked_by=session-ticket
    expect_notes resumed-rustls-tls12.pcap 2 client_cert=true evidence=resumed resumed_from=1 linked_by=session-ticket
    expect_notes resumed-tls13-keylog.pcap 2 client_cert=true evidence=inferred "$demand_all" demand_flows=1 \
        with_keylog=resumed-tls13.keys:resumed resumed_from=1 linked_by=psk-identity
    expect_notes resumed-rustls-tls13-keylog.pcap 2 client_cert=true evidence=inferred "$demand_all" demand_flows=1 \
        with_keylog=resumed-rustls-tls13.keys:resumed resumed_from=1 linked_by=psk-identity
    expect_notes resumed-tls13-server-only-keylog.pcap 2 client_cert=null with_keylog=resumed-tls13-server-only.keys:resumed \
        with_keylog_client_cert=false resumed_from=1 linked_by=psk-identity
    expect_notes resumed-tls13-optional-keylog.pcap 2 client_cert=null with_keylog=resumed-tls13-optional.keys:resumed \
        with_keylog_client_cert=false resumed_from=1 linked_by=psk-identity
    expect_notes resumed-pooled.pcap 1 client_cert=true handshake=not-captured evidence=inferred \
        demand=rejected-without-certificate demand_flows=2
    expect_notes resumed-pooled.pcap 2 client_cert=false alert=server:certificate_required
    expect_notes resumed-pooled.pcap 3 client_cert=true handshake=not-captured evidence=inferred "$demand_all" demand_flows=4
    expect_notes resumed-pooled.pcap 5 client_cert=null handshake=not-captured
    expect_notes resumed-pooled.pcap 7 client_cert=null handshake=not-captured
    expect_notes tls13-resumed.pcap 2 client_cert=true evidence=inferred "$demand_all" demand_flows=1
}
if [[ $ONLY == resumed ]]; then
    make_resumed
    only_done "resumed- tls13-resumed." expect_resumed
fi

log "rustls-tls13-mtls.pcap + rustls-tls13-mtls.keys"
cap_start rustls-tls13-mtls.pcap lo '' 'tcp port 9501'
KEYLOG=$OUT/rustls-tls13-mtls.keys
rm -f "$KEYLOG"
rsrv rustls13-mtls 9501 "${RUSTLS_MESH_SRV[@]}" --client-ca "$P/ca.crt" --require-client-cert
rcli rustls13-mtls --port 9501 "${RUSTLS_MESH_CLI[@]}" "${RUSTLS_CLIENT_CERT[@]}"
KEYLOG=
srv_wait
cap_stop
coalesced rustls-tls13-mtls.pcap 9501 11,15,20

log "rustls-tls13-server-only.pcap"
cap_start rustls-tls13-server-only.pcap lo '' 'tcp port 8501'
rsrv rustls13-so 8501 --cert "$P/api.crt" --key "$P/api.key"
rcli rustls13-so --port 8501 --ca "$P/ca.crt" --sni api.example.internal
srv_wait
cap_stop
coalesced rustls-tls13-server-only.pcap 8501 20

log "rustls-tls13-cert-requested-none.pcap"
cap_start rustls-tls13-cert-requested-none.pcap lo '' 'tcp port 8502'
rsrv rustls13-req 8502 "${RUSTLS_MESH_SRV[@]}" --client-ca "$P/ca.crt"
rcli rustls13-req --port 8502 "${RUSTLS_MESH_CLI[@]}"
srv_wait
cap_stop
coalesced rustls-tls13-cert-requested-none.pcap 8502 11,20

log "rustls-tls12-mtls.pcap"
cap_start rustls-tls12-mtls.pcap lo '' 'tcp port 9502'
rsrv rustls12-mtls 9502 "${RUSTLS_MESH_SRV[@]}" --client-ca "$P/ca.crt" --require-client-cert --tls12
rcli rustls12-mtls --port 9502 "${RUSTLS_MESH_CLI[@]}" "${RUSTLS_CLIENT_CERT[@]}" --tls12
srv_wait
cap_stop

expect_rustls() { # verdicts of the rustls captures in $TSV, flow by flow
    expect rustls-tls12-mtls.pcap mtls
    expect rustls-tls13-cert-requested-none.pcap tls
    expect rustls-tls13-mtls.pcap mtls
    expect rustls-tls13-server-only.pcap tls
}

if [[ $ONLY == rustls ]]; then only_done rustls- expect_rustls; fi


# ---------------------------------------------------------------- single-flow captures
log "tls12-mtls.pcap"
cap_start tls12-mtls.pcap lo '' 'tcp port 9080'
flow_tls12_mtls 9080
cap_stop

log "tls12-server-only.pcap"
cap_start tls12-server-only.pcap lo '' 'tcp port 8443'
flow_curl_https 8443 1.2
cap_stop

log "tls12-cert-requested-empty.pcap"
cap_start tls12-cert-requested-empty.pcap lo '' 'tcp port 8444'
srv t12req 8444 -naccept 1 -tls1_2 -verify 1 "${MESH_SRV[@]}"
cli t12req -connect 127.0.0.1:8444 -tls1_2 -CAfile "$P/ca.crt" -servername "$ISTIO_SNI" -alpn "$ISTIO_ALPN"
srv_wait
cap_stop

log "tls13-mtls.pcap"
cap_start tls13-mtls.pcap lo '' 'tcp port 9081'
flow_tls13_mtls 9081
cap_stop

log "tls13-mtls-rsa.pcap"
cap_start tls13-mtls-rsa.pcap lo '' 'tcp port 9082'
flow_tls13_mtls_rsa 9082
cap_stop

log "tls13-server-only.pcap"
cap_start tls13-server-only.pcap lo '' 'tcp port 8445'
srv t13so 8445 -naccept 1 -tls1_3 "${API_SRV[@]}" -rev
cli t13so -connect 127.0.0.1:8445 -tls1_3 -CAfile "$P/ca.crt" -servername api.example.internal
srv_wait
cap_stop

log "tls13-cert-requested-none.pcap"
cap_start tls13-cert-requested-none.pcap lo '' 'tcp port 8446'
srv t13req 8446 -naccept 1 -tls1_3 -verify 1 "${MESH_SRV[@]}"
cli t13req -connect 127.0.0.1:8446 -tls1_3 -CAfile "$P/ca.crt" -servername "$ISTIO_SNI" -alpn "$ISTIO_ALPN"
srv_wait
cap_stop

log "tls13-rejected-no-cert.pcap"
cap_start tls13-rejected-no-cert.pcap lo '' 'tcp port 9083'
srv t13rej 9083 -naccept 1 -tls1_3 -Verify 1 -verify_return_error "${MESH_SRV[@]}"
# the client waits for the server's alert before it has anything to send: no application data
CLI_DELAY=0.3 cli t13rej -connect 127.0.0.1:9083 -tls1_3 -CAfile "$P/ca.crt" -servername "$ISTIO_SNI" -alpn "$ISTIO_ALPN"
srv_wait
cap_stop

log "tls13-resumed.pcap"
cap_start tls13-resumed.pcap lo '' 'tcp port 9084'
srv t13res 9084 -naccept 2 -tls1_3 -Verify 1 "${MESH_SRV[@]}"
cli t13res.1 -connect 127.0.0.1:9084 -tls1_3 "${MESH_CLI[@]}" -sess_out "$WORK/sess.pem"
[[ -s $WORK/sess.pem ]] || die "no TLS 1.3 session ticket saved"
cli t13res.2 -connect 127.0.0.1:9084 -tls1_3 "${MESH_CLI[@]}" -sess_in "$WORK/sess.pem"
srv_wait
grep -q '^Reused, TLSv1.3' "$WORK/t13res.2.cli.log" || die "second TLS 1.3 connection was not resumed"
cap_stop

log "tls13-hrr-mtls.pcap"
# client sends an X25519 key share, the server only accepts P-256: HelloRetryRequest, second ClientHello
cap_start tls13-hrr-mtls.pcap lo '' 'tcp port 9086'
srv t13hrr 9086 -naccept 1 -tls1_3 -Verify 1 -groups P-256 "${MESH_SRV[@]}"
cli t13hrr -connect 127.0.0.1:9086 -tls1_3 -groups X25519:P-256 "${MESH_CLI[@]}"
srv_wait
cap_stop

log "ipv6-mtls.pcap"
cap_start ipv6-mtls.pcap lo '' 'tcp port 9087 or tcp port 8087'
HOST='[::1]'
flow_tls13_mtls 9087
flow_http 8087
HOST=127.0.0.1
cap_stop

log "tls13-mtls-keylog.pcap + tls13-mtls.keys"
cap_start tls13-mtls-keylog.pcap lo '' 'tcp port 9085'
KEYLOG=$OUT/tls13-mtls.keys
rm -f "$KEYLOG"
flow_tls13_mtls 9085
KEYLOG=
cap_stop
editcap --inject-secrets "tls,tls13-mtls.keys" tls13-mtls-keylog.pcap tls13-mtls-keylog.pcapng

log "tls13-suites-keylog.pcap + tls13-suites.keys"
SUITES=(TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256
        TLS_AES_128_CCM_SHA256 TLS_AES_128_CCM_8_SHA256)
cap_start tls13-suites-keylog.pcap lo '' 'tcp portrange 9101-9105'
KEYLOG=$OUT/tls13-suites.keys
rm -f "$KEYLOG"
for i in "${!SUITES[@]}"; do
    port=$((9101 + i))
    srv suite.$port "$port" -naccept 1 -tls1_3 -Verify 1 -ciphersuites "${SUITES[$i]}" "${MESH_SRV[@]}"
    cli suite.$port -connect "127.0.0.1:$port" -tls1_3 -ciphersuites "${SUITES[$i]}" "${MESH_CLI[@]}"
    srv_wait
    grep -q "Ciphersuite: ${SUITES[$i]}" "$WORK/suite.$port.srv.log" || die "suite ${SUITES[$i]} not negotiated"
done
KEYLOG=
cap_stop
editcap --inject-secrets "tls,tls13-suites.keys" tls13-suites-keylog.pcap tls13-suites-keylog.pcapng

log "http-plaintext.pcap"
cap_start http-plaintext.pcap lo '' 'tcp port 8080'
flow_http 8080
cap_stop

log "http-rejected-by-tls.pcap"
cap_start http-rejected-by-tls.pcap lo '' 'tcp port 9091'
flow_http_to_tls 9091
cap_stop

# ---------------------------------------------------------------- multi-flow captures
log "mtls.pcap (README demo)"
cap_start mtls.pcap lo '' 'tcp port 9180 or tcp port 9181 or tcp port 8543 or tcp port 8180 or tcp port 9182 or tcp port 15021'
flow_tls12_mtls 9180
flow_tls13_mtls 9181
flow_curl_https 8543 1.3
flow_http 8180
flow_http_to_tls 9182
flow_tcp_probe 15021
cap_stop

log "mtls-only.pcap"
cap_start mtls-only.pcap lo '' 'tcp port 9480 or tcp port 9481 or tcp port 9482'
flow_tls12_mtls 9480
flow_tls13_mtls 9481
flow_tls13_mtls_rsa 9482
cap_stop

for lt in LINUX_SLL2 LINUX_SLL; do
    f=sll2-any.pcap base=9280
    [[ $lt == LINUX_SLL ]] && f=sll-any.pcap base=9380
    log "$f (-i any -y $lt)"
    lts=$(tcpdump -i any -L 2>&1 || true)
    grep -qw "$lt" <<<"$lts" || die "tcpdump -i any cannot write $lt here (it offers: $lts)"
    cap_start "$f" any "$lt" "tcp port $base or tcp port $((base - 1000))"
    flow_tls13_mtls "$base"
    flow_http $((base - 1000))
    cap_stop
done

log "merged.pcapng"
mergecap -F pcapng -w merged.pcapng tls12-mtls.pcap tls13-mtls.pcap http-plaintext.pcap sll2-any.pcap

log "truncated.pcap"
# mtls.pcap cut half-way through a packet record (ksniff stopped by Ctrl+C): the cut falls in the
# last big TLS record the server of the second flow (TLS 1.3 mTLS, port 9181) sent, so the first two
# flows keep their verdicts and the rest of the capture is gone.
cut_at=$(python3 - mtls.pcap 9181 <<'EOF'
import struct, sys
data = open(sys.argv[1], 'rb').read()
port = int(sys.argv[2])
endian = '<' if data[:4] in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1') else '>'
off, best = 24, None
while off + 16 <= len(data):
    caplen = struct.unpack(endian + 'I', data[off + 8:off + 12])[0]
    pkt = data[off + 16:off + 16 + caplen]          # Ethernet / IPv4 / TCP on loopback
    ihl = (pkt[14] & 0x0f) * 4
    tcp = pkt[14 + ihl:]
    sport = struct.unpack('>H', tcp[0:2])[0]
    payload = len(tcp) - (tcp[12] >> 4) * 4
    if sport == port and payload > 300:
        best = (off, caplen)
    off += 16 + caplen
off, caplen = best
print(off + 16 + caplen // 2)
EOF
)
head -c "$cut_at" mtls.pcap >truncated.pcap

log "mtls.pcap.gz"
gzip -n -9 -c mtls.pcap >mtls.pcap.gz

make_fragmented
make_resumed

# ---------------------------------------------------------------- checks + expected.tsv
log "deriving expected.tsv with tshark"
python3 "$HERE/derive_expected.py" --keys "$ALLKEYS" --dir "$OUT" >"$WORK/expected.tsv"

# Intent, flow by flow in capture order: the verdicts derived from the bytes must match it.
TSV=$WORK/expected.tsv
expect_rustls
expect tls12-mtls.pcap mtls
expect tls12-server-only.pcap tls
expect tls12-cert-requested-empty.pcap tls
expect tls13-mtls.pcap mtls
expect tls13-mtls-rsa.pcap mtls
expect tls13-server-only.pcap tls
expect tls13-cert-requested-none.pcap tls
expect tls13-rejected-no-cert.pcap tls
expect tls13-hrr-mtls.pcap mtls
expect ipv6-mtls.pcap mtls plaintext
expect tls13-mtls-keylog.pcap mtls
expect tls13-mtls-keylog.pcapng mtls
expect tls13-suites-keylog.pcap mtls mtls mtls mtls mtls
expect tls13-suites-keylog.pcapng mtls mtls mtls mtls mtls
expect http-plaintext.pcap plaintext
expect http-rejected-by-tls.pcap plaintext
expect mtls.pcap mtls mtls tls plaintext plaintext empty
expect mtls.pcap.gz mtls mtls tls plaintext plaintext empty
expect mtls-only.pcap mtls mtls mtls
expect sll2-any.pcap mtls plaintext
expect sll-any.pcap mtls plaintext
expect merged.pcapng mtls mtls plaintext mtls plaintext
expect truncated.pcap mtls mtls
expect_fragmented
expect_resumed
# every flow of a complete capture was captured from SYN to the last FIN
if awk -F'\t' '$1 != "truncated.pcap" && $6 ~ /close=open/' "$WORK/expected.tsv" | grep .; then
    die "flows above were not captured to their end"
fi
cp "$WORK/expected.tsv" "$OUT/expected.tsv"

log "done: $(ls "$OUT" | grep -cE '\.(pcap|pcapng|gz|keys)$') files in samples/"
ls -l "$OUT" | grep -E '\.(pcap|pcapng|gz|keys|tsv)$' >&2
