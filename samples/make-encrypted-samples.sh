#!/usr/bin/env bash
# Captures flows encrypted by protocols other than TLS, from real peers on loopback:
#
#   sudo samples/make-encrypted-samples.sh
#
# encrypted-ssh.pcap: OpenSSH's ssh client logs in to its sshd (127.0.0.1:2222, a throwaway host
# and user key) and runs one command; tcpdump captures it. tshark then checks that both sides sent
# SSH_MSG_NEWKEYS (message code 21): the flow must be `encrypted` (tests/encrypted.rs).
# Needs root (sshd, tcpdump). Finishes in a few seconds.
set -euo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PORT=2222
die() { echo "make-encrypted-samples.sh: $*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || die "run as root (sshd and tcpdump)"

# shellcheck source=tools.sh
source "$HERE/tools.sh"
need_tools sshd:openssh-server ssh:openssh-client ssh-keygen:openssh-client tcpdump:tcpdump tshark:tshark

WORK=$(mktemp -d)
SSHD_PID= TCPDUMP_PID=
cleanup() {
    [[ -n $TCPDUMP_PID ]] && kill "$TCPDUMP_PID" 2>/dev/null || true
    [[ -n $SSHD_PID ]] && kill "$SSHD_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

ssh-keygen -q -t ed25519 -N '' -f "$WORK/host"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/user"
mkdir -p /run/sshd
cat > "$WORK/sshd_config" <<CONF
Port $PORT
ListenAddress 127.0.0.1
HostKey $WORK/host
AuthorizedKeysFile $WORK/user.pub
PidFile $WORK/sshd.pid
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
CONF
/usr/sbin/sshd -f "$WORK/sshd_config" -D -E "$WORK/sshd.log" &
SSHD_PID=$!
for _ in $(seq 50); do ss -ltn | grep -q "127.0.0.1:$PORT " && break; sleep 0.1; done

OUT="$HERE/encrypted-ssh.pcap"
tcpdump -i lo --immediate-mode -U -w "$OUT" "tcp port $PORT" 2>"$WORK/tcpdump.log" &
TCPDUMP_PID=$!
for _ in $(seq 100); do grep -q listening "$WORK/tcpdump.log" && break; sleep 0.05; done
sleep 0.3
ssh -p "$PORT" -i "$WORK/user" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    -o BatchMode=yes root@127.0.0.1 'echo hello from sshd' | grep -q 'hello from sshd' ||
    die "the ssh session failed: $(cat "$WORK/sshd.log")"
sleep 1
kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID" 2>/dev/null || true; TCPDUMP_PID=
chmod 644 "$OUT"

newkeys=$(tshark -r "$OUT" -d "tcp.port==$PORT,ssh" -Y 'ssh.message_code == 21' -T fields -e tcp.srcport 2>/dev/null |
    sort -u | wc -l)
[[ $newkeys == 2 ]] || die "$OUT: SSH_MSG_NEWKEYS from $newkeys sides, not 2"
echo "wrote $OUT"
