#!/usr/bin/env python3
"""Writes a classic pcap of N short plaintext HTTP connections to standard output, for the memory
benchmark of `mtlscan --follow` (benches/follow_memory.sh).

    flowgen.py N

Each connection is eight packets between its own client (10.x.y.z, port from 1024) and
10.255.0.1:80: SYN, SYN-ACK, ACK, a GET, a 200 answer, FIN, FIN, ACK; one millisecond of capture
time apart, connections one after the other. Checksums are left zero (mtlscan judges them as
checksum offload)."""
import struct
import sys

SERVER = bytes([10, 255, 0, 1])
GET = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
ETH = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"


def packet(src, dst, sport, dport, seq, ack, flags, payload):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0, src, dst)
    return ETH + ip + tcp + payload


def main():
    n = int(sys.argv[1])
    out = sys.stdout.buffer
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    chunk = []
    t = 1_700_000_000 * 1_000_000
    for i in range(n):
        client = bytes([10, (i >> 16) & 0xFF, (i >> 8) & 0xFF, (i & 0xFF) or 1])
        sport = 1024 + (i % 60000)
        c, s = 1000, 5000
        steps = [
            (client, SERVER, sport, 80, c, 0, 0x02, b""),
            (SERVER, client, 80, sport, s, c + 1, 0x12, b""),
            (client, SERVER, sport, 80, c + 1, s + 1, 0x10, b""),
            (client, SERVER, sport, 80, c + 1, s + 1, 0x18, GET),
            (SERVER, client, 80, sport, s + 1, c + 1 + len(GET), 0x18, OK),
            (client, SERVER, sport, 80, c + 1 + len(GET), s + 1 + len(OK), 0x11, b""),
            (SERVER, client, 80, sport, s + 1 + len(OK), c + 2 + len(GET), 0x11, b""),
            (client, SERVER, sport, 80, c + 2 + len(GET), s + 2 + len(OK), 0x10, b""),
        ]
        for step in steps:
            frame = packet(*step)
            t += 1000
            chunk.append(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(frame), len(frame)))
            chunk.append(frame)
        if len(chunk) >= 8192:
            out.write(b"".join(chunk))
            chunk.clear()
    out.write(b"".join(chunk))


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        pass
