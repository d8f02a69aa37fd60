#!/usr/bin/env python3
"""Peers, packet injection and checks for make-evasion-samples.sh (see the comment there).

Real exchanges are recorded by tcpdump between real peers; this script only

  * plays the small peers the shell script cannot do with stock tools
    (`clienthello`, `get`, `serve-raw`);
  * rewrites a real capture: reads its packets, inserts crafted ones (built with scapy) at a
    given position with timestamps strictly between their neighbours, and writes it out
    (`inject`); the real packets are copied byte for byte;
  * checks the result with tshark (`check`).

Sequence numbers in the messages below are relative to the real ISNs: C = the client's next
sequence number after the handshake (client ISN + 1), S = the server's (server ISN + 1).
"""
import argparse
import json
import os
import random
import socket
import struct
import subprocess
import sys
import time

GET_PATH = "/secret/report?id=7"
TOKEN = "Bearer t0k3n"


def die(msg):
    print(f"evasion.py: {msg}", file=sys.stderr)
    sys.exit(1)


# --------------------------------------------------------------------------- peers

def http_request(host, port):
    return (f"GET {GET_PATH} HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\n"
            "User-Agent: evasion-client/1\r\n"
            "Accept: */*\r\n"
            f"Authorization: {TOKEN}\r\n"
            "\r\n").encode()


def read_record(conn):
    """One TLS record (5-byte header + body) from a socket."""
    buf = b""
    while len(buf) < 5 or len(buf) < 5 + struct.unpack(">H", buf[3:5])[0]:
        chunk = conn.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


def cmd_clienthello(a):
    """Records the ClientHello record that `openssl s_client` sends to a listener on
    127.0.0.1:PORT (the listener then closes; s_client gives up)."""
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", a.port))
    lsock.listen(1)
    lsock.settimeout(10)
    cli = subprocess.Popen(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{a.port}",
         "-servername", "reports.example.internal", "-alpn", "h2,http/1.1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conn, _ = lsock.accept()
    conn.settimeout(10)
    rec = read_record(conn)
    conn.close()
    cli.wait(timeout=10)
    if len(rec) < 6 or rec[0] != 0x16 or rec[5] != 0x01 or \
            len(rec) != 5 + struct.unpack(">H", rec[3:5])[0]:
        die(f"not a ClientHello record from openssl: {rec[:16].hex()}")
    with open(a.out, "wb") as f:
        f.write(rec)
    print(f"ClientHello record of {len(rec)} bytes, starts {rec[:6].hex(' ')}")


def cmd_get(a):
    """A small HTTP client: connects, waits --pause seconds (so that the capture has room for
    injected packets between the handshake and the request), writes the optional prefix
    (a ClientHello record, then --appdata-kb of TLS application-data records), waits again,
    writes the GET, reads the answer to the end and closes."""
    s = socket.create_connection((a.host, a.port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    time.sleep(a.pause)
    if a.prefix:
        with open(a.prefix, "rb") as f:
            s.sendall(f.read())
        left = a.appdata_kb * 1024
        while left > 0:
            n = min(left, 16384)
            s.sendall(b"\x17\x03\x03" + struct.pack(">H", n) + os.urandom(n))
            left -= n
        time.sleep(a.pause)
    s.sendall(http_request(a.host, a.port))
    answer = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        answer += chunk
    s.close()
    print(answer.split(b"\r\n", 1)[0].decode("latin-1"))


def cmd_serve_raw(a):
    """A plain TCP server for one connection: reads everything until the end of an HTTP request
    head that follows `GET /`, however many bytes come first, then answers HTTP/1.0 200 OK and
    closes."""
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((a.host, a.port))
    lsock.listen(1)
    lsock.settimeout(20)
    conn, _ = lsock.accept()
    conn.settimeout(10)
    buf = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        buf += chunk
        at = buf.find(b"GET /")
        if at >= 0 and b"\r\n\r\n" in buf[at:]:
            break
    body = b"quarterly report 7: confidential\n"
    conn.sendall(b"HTTP/1.0 200 OK\r\nServer: evasion-raw/1\r\nContent-Type: text/plain\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body)
    conn.close()
    lsock.close()
    print(f"read {len(buf)} bytes, request at offset {buf.find(b'GET /')}")


# --------------------------------------------------------------------------- pcap files

class Rec:
    def __init__(self, ts, data, wirelen=None, crafted=None):
        self.ts = ts              # microseconds since the epoch
        self.data = data
        self.wirelen = len(data) if wirelen is None else wirelen
        self.crafted = crafted    # None for a real packet, else a description


def read_pcap(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:4] != b"\xd4\xc3\xb2\xa1":
        die(f"{path}: not a little-endian microsecond pcap file")
    _, _, _, _, _, snaplen, linktype = struct.unpack("<IHHiIII", raw[:24])
    recs, off = [], 24
    while off < len(raw):
        sec, usec, incl, orig = struct.unpack("<IIII", raw[off:off + 16])
        recs.append(Rec(sec * 1_000_000 + usec, raw[off + 16:off + 16 + incl], orig))
        off += 16 + incl
    return snaplen, linktype, recs


def write_pcap(path, snaplen, linktype, recs):
    for prev, rec in zip(recs, recs[1:]):
        if rec.ts <= prev.ts and (rec.crafted or prev.crafted):
            die("inserted packets out of time order")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype))
        for r in recs:
            f.write(struct.pack("<IIII", r.ts // 1_000_000, r.ts % 1_000_000,
                                len(r.data), max(r.wirelen, len(r.data))))
            f.write(r.data)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- injection

def scapy():
    import logging
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    import scapy.all as sc
    return sc


class Flow:
    """The one TCP connection of a real capture: who is who, the ISNs and where things are."""

    def __init__(self, sc, recs):
        self.sc = sc
        self.pkts = [sc.Ether(r.data) for r in recs]
        tcp = [(i, p) for i, p in enumerate(self.pkts) if p.haslayer(sc.TCP)]
        if len(tcp) != len(self.pkts):
            die("the real capture holds something other than TCP over IPv4")
        syns = [i for i, p in tcp if p[sc.TCP].flags == "S"]
        if not syns:
            die(f"no SYN among the {len(self.pkts)} packets of the real capture")
        self.syn = syns[0]
        s = self.pkts[self.syn]
        self.cli = (s[sc.IP].src, s[sc.TCP].sport)
        self.srv = (s[sc.IP].dst, s[sc.TCP].dport)
        for i, p in tcp:
            if (p[sc.IP].src, p[sc.TCP].sport) not in (self.cli, self.srv) or \
                    (p[sc.IP].dst, p[sc.TCP].dport) not in (self.cli, self.srv):
                die("the real capture holds more than one connection")
        self.synack = next(i for i, p in tcp if i > self.syn and self.side(p) == "s"
                           and p[sc.TCP].flags == "SA")
        self.ack = next(i for i, p in tcp if i > self.synack and self.side(p) == "c")
        self.req = next(i for i, p in tcp if self.side(p) == "c" and len(p[sc.TCP].payload))
        self.c_isn = s[sc.TCP].seq
        self.s_isn = self.pkts[self.synack][sc.TCP].seq
        self.C = (self.c_isn + 1) & 0xFFFFFFFF
        self.S = (self.s_isn + 1) & 0xFFFFFFFF
        self.ttl = {"c": s[sc.IP].ttl, "s": self.pkts[self.synack][sc.IP].ttl}
        self.eth = {"c": (s.src, s.dst),
                    "s": (self.pkts[self.synack].src, self.pkts[self.synack].dst)}

    def side(self, p):
        sc = self.sc
        return "c" if (p[sc.IP].src, p[sc.TCP].sport) == self.cli else "s"

    def last(self, side, before):
        """The last real packet of SIDE before index BEFORE, or None."""
        return next((self.pkts[i] for i in range(before - 1, -1, -1)
                     if self.side(self.pkts[i]) == side), None)

    def window(self, side, before):
        """The (scaled) window field of SIDE's nearest real packet that is not a SYN: the last
        one before index BEFORE, else the first one after."""
        sc = self.sc
        order = list(range(before - 1, -1, -1)) + list(range(before, len(self.pkts)))
        return next(self.pkts[i][sc.TCP].window for i in order
                    if self.side(self.pkts[i]) == side and not self.pkts[i][sc.TCP].flags.S)

    def tsval(self, side, before):
        sc = self.sc
        p = self.last(side, before)
        ts = [o[1] for o in (p[sc.TCP].options if p is not None else []) if o[0] == "Timestamp"]
        return ts[0][0] if ts else None

    def craft(self, side, flags, seq, ack, before, payload=b"", options=True):
        """A TCP segment that pretends to come from SIDE, as the next packet before index
        BEFORE: addresses, MACs, TTL and DF as the real packets of that side; the window of its
        real packets and a timestamp option (TSval: SIDE's last, TSecr: the peer's last), unless
        options=False (then no option and window 0, as a forged RST usually has). Checksums
        correct."""
        sc = self.sc
        peer = "s" if side == "c" else "c"
        (ip, port), (pip, pport) = (self.cli, self.srv) if side == "c" else (self.srv, self.cli)
        opts, window = [], 0
        if options:
            window = self.window(side, before)
            tsval, tsecr = self.tsval(side, before), self.tsval(peer, before)
            if tsval is not None:
                opts = [("NOP", None), ("NOP", None), ("Timestamp", (tsval, tsecr or 0))]
        pkt = (sc.Ether(src=self.eth[side][0], dst=self.eth[side][1])
               / sc.IP(src=ip, dst=pip, ttl=self.ttl[side], flags="DF", id=0)
               / sc.TCP(sport=port, dport=pport, flags=flags, seq=seq & 0xFFFFFFFF,
                        ack=ack & 0xFFFFFFFF, window=window, options=opts))
        if payload:
            pkt = pkt / sc.Raw(payload)
        return bytes(pkt)

    def fake_request(self, clienthello, ttl=None, bad_checksum=False):
        """A copy of the real request segment (same headers, options, seq, ack, length, IP ID)
        whose bytes are those of a real ClientHello record, cut or zero-padded to the length."""
        sc = self.sc
        p = self.pkts[self.req].copy()
        n = len(p[sc.TCP].payload)
        p[sc.TCP].remove_payload()
        p = p / sc.Raw((clienthello + bytes(n))[:n])
        if ttl is not None:
            p[sc.IP].ttl = ttl
        del p[sc.IP].chksum
        del p[sc.TCP].chksum
        p = sc.Ether(bytes(p))
        if bad_checksum:
            p[sc.TCP].chksum ^= 0x5A5A
        return bytes(p)


def rel(v, base):
    d = (v - base) & 0xFFFFFFFF
    return d - (1 << 32) if d >= 1 << 31 else d


def cmd_inject(a):
    sc = scapy()
    snaplen, linktype, recs = read_pcap(a.input)
    if linktype != 1:
        die("the real capture is not Ethernet")
    f = Flow(sc, recs)
    C, S = f.C, f.S
    req_len = len(f.pkts[f.req][sc.TCP].payload)
    Cr = C + req_len  # the client's next seq after its request
    ch = open(a.clienthello, "rb").read() if a.clienthello else b""
    after_hs = f.ack + 1  # insert before the packet that follows the client's handshake ACK
    if a.case not in ("offload", "fake-clienthello", "huge-prefix", "mpls"):
        if after_hs != f.req:
            die("the client's request does not follow its handshake ACK")
    plan = []  # (index of the real packet to insert before, [(bytes, description)])
    c = a.case
    if c == "rst-before-synack":
        plan.append((f.synack, [
            (f.craft("s", "RA", 0, C, f.synack, options=False),
             "forged server RST+ACK seq=0 ack=client ISN+1 (a refusal)"),
            (f.craft("s", "FA", S, C, f.synack, options=False),
             "forged server FIN+ACK seq=S ack=C"),
            (f.craft("c", "R", C, 0, f.synack, options=False), "forged client RST seq=C"),
        ]))
    elif c == "rst-out-of-window":
        plan.append((f.req, [
            (f.craft("s", "R", S + 100000, 0, f.req, options=False),
             "forged server RST seq=S+100000"),
            (f.craft("c", "R", C - 5000, 0, f.req, options=False), "forged client RST seq=C-5000"),
        ]))
    elif c == "rst-in-window":
        plan.append((f.req, [
            (f.craft("s", "R", S + 1000, 0, f.req, options=False), "forged server RST seq=S+1000"),
        ]))
    elif c == "rst-exact":
        plan.append((f.req + 1, [
            (f.craft("s", "RA", S, Cr, f.req + 1, options=False),
             f"forged server RST+ACK seq=S ack=C+{req_len} (exact)"),
        ]))
    elif c == "fin-out-of-window":
        plan.append((f.req, [
            (f.craft("c", "FA", C + 200000, S, f.req), "forged client FIN+ACK seq=C+200000 ack=S"),
            (f.craft("s", "FA", S + 200000, C, f.req), "forged server FIN+ACK seq=S+200000 ack=C"),
        ]))
    elif c == "fin-exact":
        plan.append((f.req, [
            (f.craft("c", "FA", C, S, f.req), "forged client FIN+ACK seq=C ack=S (exact)"),
            (f.craft("s", "FA", S, C, f.req), "forged server FIN+ACK seq=S ack=C (exact)"),
        ]))
    elif c == "overlap-badsum":
        plan.append((f.req, [(f.fake_request(ch, bad_checksum=True),
                              f"fake ClientHello bytes seq=C len={req_len}, bad TCP checksum")]))
    elif c == "overlap-ttl":
        plan.append((f.req, [(f.fake_request(ch, ttl=1),
                              f"fake ClientHello bytes seq=C len={req_len}, IP TTL 1")]))
    elif c == "overlap-conflict":
        plan.append((f.req, [(f.fake_request(ch),
                              f"fake ClientHello bytes seq=C len={req_len}, "
                              f"TTL {f.ttl['c']}, checksum correct")]))
    elif c == "flood":
        rnd = random.Random(9714)
        host_ip, host_mac = a.flood_src.split(",")
        srv_ip, srv_port = f.srv
        seen, syns = set(), []
        while len(syns) < a.flood_count:
            sport, dport = rnd.randint(1024, 65535), rnd.randint(1, 65535)
            if (sport, dport) in seen or dport == srv_port:
                continue
            seen.add((sport, dport))
            pkt = (sc.Ether(src=host_mac, dst=f.eth["c"][1])
                   / sc.IP(src=host_ip, dst=srv_ip, ttl=f.ttl["c"], id=rnd.randint(0, 65535))
                   / sc.TCP(sport=sport, dport=dport, flags="S", seq=rnd.getrandbits(32),
                            window=1024))
            syns.append((bytes(pkt), None))
        syns[0] = (syns[0][0], f"{a.flood_count} forged SYNs from {host_ip} "
                               "(distinct random source and destination ports)")
        plan.append((f.req, syns))
    elif c in ("offload", "fake-clienthello", "huge-prefix", "mpls"):
        pass
    else:
        die(f"unknown case {c}")

    out = list(recs)
    for before, items in sorted(plan, key=lambda x: -x[0]):
        lo, hi = recs[before - 1].ts, recs[before].ts
        n = len(items)
        if hi - lo <= n:
            die(f"no room for {n} packets between {lo} and {hi} µs")
        new = [Rec(lo + (hi - lo) * (k + 1) // (n + 1), data, crafted=desc or "")
               for k, (data, desc) in enumerate(items)]
        out[before:before] = new

    if c == "mpls":
        # every frame re-encapsulated: Ethernet / MPLS label stack / the same IPv4 packet
        labels = {"c": (a.labels[0], a.labels[1]), "s": (a.labels[2], a.labels[3])}
        for r, p in zip(out, f.pkts):
            side = f.side(p)
            ttl = p[sc.IP].ttl
            stack = b"".join(struct.pack(">I", (lab << 12) | ((k == 1) << 8) | ttl)
                             for k, lab in enumerate(labels[side]))
            r.data = r.data[:12] + b"\x88\x47" + stack + r.data[14:]
            r.wirelen += len(stack)

    write_pcap(a.output, snaplen, linktype, out)

    # manifest: frame numbers (1-based) of the landmarks and of the crafted packets
    idx = {id(r): k + 1 for k, r in enumerate(out)}
    frames = {"syn": idx[id(recs[f.syn])], "synack": idx[id(recs[f.synack])],
              "ack": idx[id(recs[f.ack])], "request": idx[id(recs[f.req])],
              "total": len(out), "client": f"{f.cli[0]}:{f.cli[1]}",
              "server": f"{f.srv[0]}:{f.srv[1]}", "ttl": f.ttl, "request_len": req_len,
              "crafted": []}
    resp = next((k for k in range(f.req, len(recs)) if f.side(f.pkts[k]) == "s"
                 and len(f.pkts[k][sc.TCP].payload)), None)
    frames["response"] = idx[id(recs[resp])] if resp is not None else None
    get = next((k for k in range(f.req, len(recs)) if f.side(f.pkts[k]) == "c"
                and bytes(f.pkts[k][sc.TCP].payload).startswith(b"GET ")), None)
    frames["get"] = idx[id(recs[get])] if get is not None else None
    crafted = [k + 1 for k, r in enumerate(out) if r.crafted is not None]
    groups = []
    for k in crafted:
        if groups and groups[-1][1] == k - 1:
            groups[-1][1] = k
        else:
            groups.append([k, k])
    for lo_, hi_ in groups:
        descs = [out[k - 1].crafted for k in range(lo_, hi_ + 1) if out[k - 1].crafted]
        frames["crafted"].append({"first": lo_, "last": hi_, "what": descs})
    with open(a.manifest, "w") as fh:
        json.dump(frames, fh, indent=1)
    real = len(out) - len(crafted)
    print(f"{os.path.basename(a.output)}: {real} real + {len(crafted)} crafted frames; "
          f"SYN {frames['syn']}, SYN-ACK {frames['synack']}, ACK {frames['ack']}, "
          f"first client bytes {frames['request']} ({req_len} bytes), GET {frames['get']}, "
          f"first server bytes {frames['response']}")
    for g in frames["crafted"]:
        rng = str(g["first"]) if g["first"] == g["last"] else f"{g['first']}-{g['last']}"
        print(f"  crafted frame(s) {rng}: " + "; ".join(g["what"]))


# --------------------------------------------------------------------------- checks

FIELDS = ["frame.number", "frame.time_epoch", "eth.type", "ip.src", "ip.ttl", "tcp.srcport",
          "tcp.dstport", "tcp.flags", "tcp.seq_raw", "tcp.ack_raw", "tcp.len",
          "tcp.checksum.status", "mpls.label", "mpls.bottom", "tcp.payload"]


def tshark_rows(path):
    cmd = ["tshark", "-n", "-r", path, "-o", "tcp.check_checksum:TRUE", "-T", "fields",
           "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for fld in FIELDS:
        cmd += ["-e", fld]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        v = dict(zip(FIELDS, line.split("\t")))
        v["n"] = int(v["frame.number"])
        v["flags"] = int(v["tcp.flags"], 16) if v["tcp.flags"] else 0
        v["len"] = int(v["tcp.len"] or 0)
        v["seq"] = int(v["tcp.seq_raw"] or 0)
        v["ack_"] = int(v["tcp.ack_raw"] or 0)
        v["payload"] = bytes.fromhex(v["tcp.payload"].replace(":", "")) if v["tcp.payload"] else b""
        rows.append(v)
    return rows


FIN, SYN, RST, PSH, ACK = 1, 2, 4, 8, 16


def cmd_check(a):
    m = json.load(open(a.manifest))
    rows = tshark_rows(a.file)
    name = os.path.basename(a.file)

    def need(cond, what):
        if not cond:
            die(f"{name}: {what}")

    need(len(rows) == m["total"], f"tshark reads {len(rows)} frames, expected {m['total']}")
    times = [float(r["frame.time_epoch"]) for r in rows]
    need(all(x <= y for x, y in zip(times, times[1:])), "frames out of time order")
    cli_ip, cli_port = m["client"].split(":")
    srv_ip, srv_port = m["server"].split(":")
    flow = [r for r in rows if {r["tcp.srcport"], r["tcp.dstport"]} == {cli_port, srv_port}
            and r["ip.src"] in (cli_ip, srv_ip)]
    crafted = {k for g in m["crafted"] for k in range(g["first"], g["last"] + 1)}
    R = {r["n"]: r for r in rows}

    # the real exchange is there: handshake, the cleartext request, the server's answer
    need(R[m["syn"]]["flags"] == SYN and R[m["synack"]]["flags"] == SYN | ACK,
         "no SYN / SYN-ACK where expected")
    req = R[m["request"]]["payload"]
    need(req.startswith(b"GET " + GET_PATH.encode() + b" HTTP/1.1\r\n") or
         (a.case == "fake-clienthello" and req[:1] == b"\x16") or
         (a.case == "huge-prefix" and req[:1] == b"\x16"), "first client segment unexpected")
    client_bytes = b"".join(r["payload"] for r in flow
                            if r["ip.src"] == cli_ip and r["n"] not in crafted)
    server_bytes = b"".join(r["payload"] for r in flow
                            if r["ip.src"] == srv_ip and r["n"] not in crafted)
    need(f"GET {GET_PATH} HTTP/1.1\r\n".encode() in client_bytes and
         f"Authorization: {TOKEN}\r\n".encode() in client_bytes, "no cleartext request")
    if a.case == "fake-clienthello":
        # http.server takes the record for a broken HTTP/0.9 request line: a bare error page
        need(server_bytes.startswith(b"<!DOCTYPE HTML>") and b"Error code: 400" in server_bytes,
             "the server's answer is not http.server's HTTP/0.9 error page (400)")
    else:
        need(server_bytes.startswith(b"HTTP/1.0 200 OK\r\n"), "the server's answer is not 200 OK")
    need(any(r["flags"] & FIN for r in flow if r["ip.src"] == srv_ip and r["n"] not in crafted),
         "the server never closed")

    # checksums: all good, except the crafted bad one, or (offload) every client packet
    for r in rows:
        st = r["tcp.checksum.status"]
        if a.case == "offload" and r["ip.src"] == cli_ip:
            need(st == "0", f"frame {r['n']}: client checksum not flagged bad (offload)")
        elif a.case == "overlap-badsum" and r["n"] in crafted:
            need(st == "0", f"frame {r['n']}: crafted checksum not bad")
        else:
            need(st == "1", f"frame {r['n']}: TCP checksum status {st}, expected good")

    # TTLs: each side's real TTL, and the crafted packets carry their side's TTL
    ttl = {cli_ip: m["ttl"]["c"], srv_ip: m["ttl"]["s"]}
    for r in flow:
        if a.case == "overlap-ttl" and r["n"] in crafted:
            need(r["ip.ttl"] == "1", "the fake copy has no TTL 1")
        else:
            need(int(r["ip.ttl"]) == ttl[r["ip.src"]], f"frame {r['n']}: TTL {r['ip.ttl']}")

    # the crafted packets themselves
    C = (R[m["syn"]]["seq"] + 1) & 0xFFFFFFFF
    S = (R[m["synack"]]["seq"] + 1) & 0xFFFFFFFF
    cf = [R[n] for n in sorted(crafted)]

    def seqrel(r):
        return rel(r["seq"], C if r["ip.src"] == cli_ip else S)

    c = a.case
    expect = {
        "rst-before-synack": [(srv_ip, RST | ACK, None), (srv_ip, FIN | ACK, 0), (cli_ip, RST, 0)],
        "rst-out-of-window": [(srv_ip, RST, 100000), (cli_ip, RST, -5000)],
        "rst-in-window": [(srv_ip, RST, 1000)],
        "rst-exact": [(srv_ip, RST | ACK, 0)],
        "fin-out-of-window": [(cli_ip, FIN | ACK, 200000), (srv_ip, FIN | ACK, 200000)],
        "fin-exact": [(cli_ip, FIN | ACK, 0), (srv_ip, FIN | ACK, 0)],
        "overlap-badsum": [(cli_ip, PSH | ACK, 0)],
        "overlap-ttl": [(cli_ip, PSH | ACK, 0)],
        "overlap-conflict": [(cli_ip, PSH | ACK, 0)],
    }
    if c in expect:
        need(len(cf) == len(expect[c]), f"{len(cf)} crafted frames, expected {len(expect[c])}")
        for r, (src, flags, off) in zip(cf, expect[c]):
            need(r["ip.src"] == src and r["flags"] == flags, f"crafted frame {r['n']}: "
                 f"from {r['ip.src']} flags {r['flags']:#x}")
            if off is not None:
                need(seqrel(r) == off, f"crafted frame {r['n']}: seq {seqrel(r):+d}, want {off:+d}")
    if c == "rst-before-synack":
        need(cf[0]["ack_"] == C and max(crafted) < m["synack"] and min(crafted) > m["syn"],
             "forged packets not between SYN and SYN-ACK")
    if c.startswith("overlap-"):
        fake, real = cf[0], R[m["request"]]
        need(fake["n"] == real["n"] - 1 and fake["seq"] == real["seq"]
             and fake["len"] == real["len"], "the fake copy does not overlap the request exactly")
        need(fake["payload"][:3] == b"\x16\x03\x01" and fake["payload"][5] == 1,
             "the fake copy does not look like a ClientHello")
    if c == "rst-exact":
        need(cf[0]["n"] == m["request"] + 1 and cf[0]["ack_"] ==
             (C + m["request_len"]) & 0xFFFFFFFF, "the RST does not follow the request")
        need(m["response"] > cf[0]["n"], "no response after the RST")
    if c == "flood":
        need(len(cf) == a.flood_count and all(r["flags"] == SYN for r in cf),
             "the flood is not all SYNs")
        need(len({(r["ip.src"], r["tcp.srcport"], r["tcp.dstport"]) for r in cf}) == len(cf),
             "two forged SYNs of one connection")
        need(min(crafted) == m["ack"] + 1 and max(crafted) == m["request"] - 1,
             "the flood is not between the handshake and the request")
    if c == "mpls":
        for r in rows:
            need(r["eth.type"] == "0x8847" and r["mpls.bottom"] in ("0,1",),
                 f"frame {r['n']}: not a two-label MPLS frame")
    else:
        need(all(r["eth.type"] == "0x0800" for r in rows), "a frame that is not IPv4")
    if c == "fake-clienthello":
        first = R[m["request"]]["payload"]
        need(first[:3] == b"\x16\x03\x01" and first[5] == 1, "the first bytes are no ClientHello")
    if c == "huge-prefix":
        at = client_bytes.find(b"GET " + GET_PATH.encode())
        need(at >= 80 * 1024, f"the request starts at offset {at}, before 80 KB")
    print(f"ok {name}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("clienthello")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("get")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pause", type=float, default=0.05)
    p.add_argument("--prefix")
    p.add_argument("--appdata-kb", type=int, default=0)
    p = sub.add_parser("serve-raw")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p = sub.add_parser("inject")
    p.add_argument("case")
    p.add_argument("--in", dest="input", required=True)
    p.add_argument("--out", dest="output", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--clienthello")
    p.add_argument("--flood-src", default="10.97.1.66,02:97:00:01:00:66")
    p.add_argument("--flood-count", type=int, default=3000)
    p.add_argument("--labels", type=int, nargs=4, default=[100, 16, 200, 17],
                   help="MPLS labels: client->server outer, inner; server->client outer, inner")
    p = sub.add_parser("check")
    p.add_argument("case")
    p.add_argument("file")
    p.add_argument("--manifest", required=True)
    p.add_argument("--flood-count", type=int, default=3000)
    a = ap.parse_args()
    {"clienthello": cmd_clienthello, "get": cmd_get, "serve-raw": cmd_serve_raw,
     "inject": cmd_inject, "check": cmd_check}[a.cmd](a)


if __name__ == "__main__":
    main()
