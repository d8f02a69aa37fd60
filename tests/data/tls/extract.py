#!/usr/bin/env python3
"""Dumps the reassembled client and server byte streams of one TCP flow of a capture, with the
frame number of every segment, holes and FIN/RST frames, in the text format the TLS tests read.

    extract.py CAPTURE TCP_STREAM CLIENT_IP CLIENT_PORT [MAX_BYTES] > flow.txt

Lines: `c|s FRAME HEX` (bytes appended to the client or server stream), `c|s hole` (bytes missing
before the next line), `c|s fin FRAME`, `c|s rst FRAME`, `c|s full` (stream cut at MAX_BYTES).
Needs tshark.
"""
import subprocess
import sys


def main():
    path, stream, cip, cport = sys.argv[1:5]
    max_bytes = int(sys.argv[5]) if len(sys.argv) > 5 else 16384
    fields = ["frame.number", "ip.src", "ipv6.src", "tcp.srcport", "tcp.seq", "tcp.len",
              "tcp.flags.syn", "tcp.flags.fin", "tcp.flags.reset", "tcp.payload"]
    cmd = ["tshark", "-r", path, "-Y", f"tcp.stream=={stream}", "-T", "fields"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    segs = {"c": [], "s": []}
    flags = []
    syn_seq = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) < len(fields):
            continue
        frame, ip4, ip6, sport, seq, tlen, syn, fin, rst, payload = parts[:10]
        ip = ip4 or ip6
        d = "c" if (ip == cip and sport == cport) else "s"
        syn = syn in ("1", "True")
        if syn:
            syn_seq.setdefault(d, int(seq) + 1)
        if fin in ("1", "True"):
            flags.append((d, "fin", int(frame)))
        if rst in ("1", "True"):
            flags.append((d, "rst", int(frame)))
        data = bytes.fromhex(payload.replace(":", "")) if payload else b""
        if data:
            segs[d].append((int(seq), int(frame), data))
    print(f"# {path.split('/captures/')[-1]} tcp.stream {stream} client {cip}:{cport}")
    for d in ("c", "s"):
        items = sorted(segs[d], key=lambda t: (t[0], t[1]))
        if not items:
            continue
        base = syn_seq.get(d, items[0][0])
        end = 0
        length = 0
        for seq, frame, data in items:
            off = seq - base
            if off + len(data) <= end:
                continue  # retransmission
            if off > end:
                print(f"{d} hole")
                end = off
            new = data[end - off:]
            room = max_bytes - length
            if room <= 0:
                print(f"{d} full")
                break
            if len(new) > room:
                new = new[:room]
            print(f"{d} {frame} {new.hex()}")
            end += len(new)
            length += len(new)
    for d, what, frame in flags:
        print(f"{d} {what} {frame}")


if __name__ == "__main__":
    main()
