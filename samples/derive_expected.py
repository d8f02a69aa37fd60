#!/usr/bin/env python3
"""Derive samples/expected.tsv from the sample captures with tshark.

One line per TCP flow, in capture order. The verdict is decided from the bytes (TLS record
header or not), never from the port; the client certificate facts come from the handshake,
decrypted with the key log of every TLS client (--keys), so TLS 1.3 facts are ground truth,
not guesses. Columns:

  file  client_port  server_port  expected_verdict  client_cert  notes

client_port is the ephemeral port in the committed capture (it changes on every run of
make-samples.sh); key flows by server_port and `order` (position of the flow in its file).
notes are `key=value` pairs separated by `;`.
"""
import argparse
import gzip
import os
import subprocess
import sys

SUITES = {
    "0x1301": "TLS_AES_128_GCM_SHA256", "0x1302": "TLS_AES_256_GCM_SHA384",
    "0x1303": "TLS_CHACHA20_POLY1305_SHA256", "0x1304": "TLS_AES_128_CCM_SHA256",
    "0x1305": "TLS_AES_128_CCM_8_SHA256",
    "0xc02b": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "0xc02c": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "0xc02f": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "0xc030": "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "0xcca8": "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "0xcca9": "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
}
ALERTS = {"0": "close_notify", "10": "unexpected_message", "20": "bad_record_mac", "40": "handshake_failure",
          "42": "bad_certificate", "46": "certificate_unknown", "48": "unknown_ca", "50": "decode_error",
          "51": "decrypt_error", "70": "protocol_version", "80": "internal_error", "116": "certificate_required"}
# Wireshark encapsulation numbers (frame.encap_type), not pcap link types
LINKS = {"1": "ethernet", "25": "sll", "210": "sll2", "7": "raw", "15": "null"}

FIELDS = [
    "frame.number", "tcp.stream", "ip.src", "ipv6.src", "tcp.srcport", "tcp.dstport",
    "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.reset", "tcp.flags.fin", "tcp.len", "tcp.payload",
    "tls.handshake.type", "tls.handshake.version", "tls.handshake.extensions.supported_version",
    "tls.handshake.ciphersuite", "tls.handshake.extensions_server_name",
    "tls.handshake.extensions_alpn_str", "tls.handshake.certificates_length",
    "tls.handshake.certificate_length", "tls.handshake.extensions.psk.identity.selected",
    "tls.alert_message.desc", "x509ce.uniformResourceIdentifier", "x509ce.dNSName",
    "frame.interface_id", "frame.encap_type", "sll.pkttype", "sll.hatype",
]


def tshark_rows(path, keys):
    cmd = ["tshark", "-n", "-r", path, "-o", "tcp.desegment_tcp_streams:TRUE",
           "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|", "-E", "separator=\t"]
    if keys:
        cmd += ["-o", "tls.keylog_file:" + keys]
    for f in FIELDS:
        cmd += ["-e", f]
    cmd += ["tcp"]
    # a capture cut short makes tshark exit non-zero after printing what it could read
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    for line in out.splitlines():
        vals = line.split("\t")
        vals += [""] * (len(FIELDS) - len(vals))
        yield {k: (v.split("|") if v else []) for k, v in zip(FIELDS, vals)}


def first(row, key, default=""):
    v = row.get(key) or []
    return v[0] if v else default


def has_dsb(path):
    """pcapng Decryption Secrets Block (type 0x0000000A) present?"""
    if not path.endswith(".pcapng"):
        return False
    data = open(path, "rb").read()
    if data[:4] != b"\x0a\x0d\x0d\x0a":
        return False
    bo = "little" if data[8:12] == b"\x4d\x3c\x2b\x1a" else "big"
    off = 0
    while off + 12 <= len(data):
        btype = int.from_bytes(data[off:off + 4], bo)
        blen = int.from_bytes(data[off + 4:off + 8], bo)
        if btype == 0x0A:
            return True
        if blen < 12:
            break
        off += blen
    return False


def http_line(payload_hex):
    try:
        text = bytes.fromhex(payload_hex).decode("latin-1")
    except ValueError:
        return ""
    return text.split("\r\n", 1)[0]


def is_tls(payload_hex):
    b = bytes.fromhex(payload_hex[:6]) if len(payload_hex) >= 6 else b""
    return len(b) == 3 and b[0] in (0x14, 0x15, 0x16, 0x17) and b[1] == 0x03 and b[2] <= 0x04


def records(stream):
    """(content_type, length) of the TLS records in a byte stream, up to the first 8."""
    out, off = [], 0
    while off + 5 <= len(stream) and len(out) < 8:
        ctype, length = stream[off], int.from_bytes(stream[off + 3:off + 5], "big")
        out.append((ctype, length))
        off += 5 + length
    return out


def analyse(path, keys):
    flows = {}
    for r in tshark_rows(path, keys):
        sid = first(r, "tcp.stream")
        if sid == "":
            continue
        src = (first(r, "ip.src") or first(r, "ipv6.src"), first(r, "tcp.srcport"))
        dst_port = first(r, "tcp.dstport")
        fl = flows.setdefault(sid, {"rows": [], "client": None, "first": int(first(r, "frame.number"))})
        if fl["client"] is None and first(r, "tcp.flags.syn") in ("1", "True") and \
                first(r, "tcp.flags.ack") in ("0", "False"):
            fl["client"] = src
            fl["server_port"] = dst_port
        fl["rows"].append((src, r))
    results = []
    for sid, fl in sorted(flows.items(), key=lambda kv: kv[1]["first"]):
        rows = fl["rows"]
        if fl["client"] is None:  # no SYN: take the lower port as the server
            (s, r0) = rows[0]
            sp, dp = int(first(r0, "tcp.srcport")), int(first(r0, "tcp.dstport"))
            fl["client"] = s if sp > dp else None
            fl["server_port"] = str(min(sp, dp))
            if fl["client"] is None:
                fl["client"] = next(((s2, ) for s2, _ in rows if s2 != s), (None,))[0] or ("?", str(dp))
        client = fl["client"]
        cli_rows = [r for s, r in rows if s == client]
        srv_rows = [r for s, r in rows if s != client]
        info = {"client_port": client[1], "server_port": fl["server_port"]}
        links = sorted({LINKS.get(first(r, "frame.encap_type"), first(r, "frame.encap_type")) for _, r in rows}
                       - {""})
        cli_data = [r for r in cli_rows if int(first(r, "tcp.len", "0") or 0) > 0]
        srv_data = [r for r in srv_rows if int(first(r, "tcp.len", "0") or 0) > 0]
        notes = []
        cc = "null"
        if not cli_data and not srv_data:
            verdict = "empty"
        elif cli_data and is_tls(first(cli_data[0], "tcp.payload")) or \
                not cli_data and is_tls(first(srv_data[0], "tcp.payload")):
            types_c = [t for r in cli_rows for t in r["tls.handshake.type"]]
            types_s = [t for r in srv_rows for t in r["tls.handshake.type"]]
            sh = next((r for r in srv_rows if "2" in r["tls.handshake.type"]), None)
            ch = next((r for r in cli_rows if "1" in r["tls.handshake.type"]), None)
            version = "?"
            suite = ""
            resumed = False
            if sh is not None:
                sv = sh["tls.handshake.extensions.supported_version"]
                hv = sh["tls.handshake.version"]
                version = "1.3" if "0x0304" in sv else {"0x0303": "1.2", "0x0302": "1.1"}.get(
                    hv[-1] if hv else "", "?")
                suite = SUITES.get(first(sh, "tls.handshake.ciphersuite"), first(sh, "tls.handshake.ciphersuite"))
                resumed = bool(sh["tls.handshake.extensions.psk.identity.selected"])
            cert_req = "13" in types_s
            cert_row = next((r for r in cli_rows if "11" in r["tls.handshake.type"]), None)
            chain = 0
            if cert_row is not None:
                # the client's frame holds only its own Certificate message
                chain = len(cert_row["tls.handshake.certificate_length"])
                cc = "true" if chain > 0 else "false"
            elif resumed:
                cc = "null"
            elif not cert_req and sh is not None and ("20" in types_c or "16" in types_c):
                cc = "false"  # not asked: the client's flight ends without a Certificate
            verdict = "mtls" if cc == "true" else "tls"
            notes.append("tls=" + version)
            if suite:
                notes.append("suite=" + suite)
            if ch is not None:
                sni = first(ch, "tls.handshake.extensions_server_name")
                alpn = ",".join(ch["tls.handshake.extensions_alpn_str"])
                if sni:
                    notes.append("sni=" + sni)
                if alpn:
                    notes.append("alpn_offered=" + alpn)
            if sh is not None:
                ee = [a for r in srv_rows for a in r["tls.handshake.extensions_alpn_str"]]
                if ee:
                    notes.append("alpn_selected=" + ee[0])
            else:
                notes.append("handshake=incomplete")
            notes.append("cert_requested=" + ("true" if cert_req else "false"))
            if version == "1.3":
                # the client's records after its ClientHello(s): type:outer_length, what the
                # size-based inference sees (Finished alone is 53 for SHA-256 suites, 69 for SHA-384)
                recs = records(b"".join(bytes.fromhex(first(r, "tcp.payload")) for r in cli_data))
                notes.append("client_records=" + ",".join("%d:%d" % tl for tl in recs if tl[0] != 22)[:80])
            if resumed:
                notes.append("resumed=true")
            if sum(1 for r in cli_rows for t in r["tls.handshake.type"] if t == "1") > 1:
                notes.append("hello_retry=true")
            if cert_row is not None:
                notes.append("client_chain=%d" % chain)
                ids = cert_row["x509ce.uniformResourceIdentifier"] + ["dns:" + d for d in cert_row["x509ce.dNSName"]]
                if ids:
                    notes.append("client_id=" + ids[0])
            srv_ids = [i for r in srv_rows if "11" in r["tls.handshake.type"]
                       for i in r["x509ce.uniformResourceIdentifier"] + ["dns:" + d for d in r["x509ce.dNSName"]]]
            if srv_ids:
                notes.append("server_id=" + srv_ids[0])
            if cc != "null":
                if version == "1.3":
                    notes.append("evidence=" + ("decrypted" if has_dsb(path) else "inferred"))
                else:
                    notes.append("evidence=observed")
            alerts = [("client", a) for r in cli_rows for a in r["tls.alert_message.desc"]] + \
                     [("server", a) for r in srv_rows for a in r["tls.alert_message.desc"]]
            for who, a in alerts:
                if a != "0":
                    notes.append("alert=%s:%s" % (who, ALERTS.get(a, a)))
        else:
            verdict = "plaintext"
            req = http_line(first(cli_data[0], "tcp.payload")) if cli_data else ""
            if req.split(" ")[0] in ("GET", "POST", "PUT", "HEAD", "DELETE", "PATCH", "OPTIONS", "PRI"):
                notes.append("protocol=http")
                notes.append("request=" + req)
            srv_reset = any(first(r, "tcp.flags.reset") in ("1", "True") for r in srv_rows)
            srv_alert = bool(srv_data) and is_tls(first(srv_data[0], "tcp.payload"))
            rejected = not srv_data or srv_alert or srv_reset
            if srv_data and not srv_alert:
                notes.append("response=" + http_line(first(srv_data[0], "tcp.payload")))
            notes.append("rejected=" + ("true" if rejected else "false"))
            if srv_alert:
                notes.append("server_answer=tls-alert")
            elif not srv_data:
                notes.append("server_answer=" + ("reset" if srv_reset else "close"))
        fins = {s for s, r in rows if first(r, "tcp.flags.fin") in ("1", "True")}
        rst = any(first(r, "tcp.flags.reset") in ("1", "True") for _, r in rows)
        notes.append("close=" + ("rst" if rst else "fin" if len(fins) == 2 else "open"))
        if links:
            notes.append("link=" + ",".join(links))
        if path.endswith(".pcapng"):
            notes.append("interface=" + ",".join(sorted({first(r, "frame.interface_id") for _, r in rows})))
        hatypes = {first(r, "sll.hatype") for _, r in rows} - {""}
        if hatypes:
            notes.append("arphrd=" + ",".join(sorted(hatypes)))
        results.append((info, verdict, cc, notes))
    return results


def key_log_of(folder, name):
    """The key log committed with a capture: X-keylog.pcap -> X.keys, rustls-X.pcap -> rustls-X.keys."""
    if name.endswith("-keylog.pcap"):
        return name.replace("-keylog.pcap", ".keys")
    if name.startswith("rustls-") and name.endswith(".pcap"):
        keys = name[:-len(".pcap")] + ".keys"
        if os.path.exists(os.path.join(folder, keys)):
            return keys
    return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--keys", required=True, help="key log of every TLS client in the captures")
    ap.add_argument("--only", default="", help="only the captures whose name starts with this")
    a = ap.parse_args()
    names = sorted(n for n in os.listdir(a.dir)
                   if n.endswith((".pcap", ".pcapng", ".pcap.gz")) and n.startswith(a.only))
    print("#file\tclient_port\tserver_port\texpected_verdict\tclient_cert\tnotes")
    for n in names:
        path = os.path.join(a.dir, n)
        companion = key_log_of(a.dir, n)
        for i, (info, verdict, cc, notes) in enumerate(analyse(path, a.keys), 1):
            extra = ["order=%d" % i]
            if n == "truncated.pcap":
                extra.append("truncated=true")
            if companion and any(x.startswith("evidence=inferred") for x in notes):
                extra.append("with_keylog=%s:decrypted" % companion)
            print("\t".join([n, info["client_port"], info["server_port"], verdict, cc,
                             ";".join(extra + notes)]))


if __name__ == "__main__":
    sys.exit(main())
