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

Flows without their own certificate answer (see samples/README.md, expected.tsv):
  A. a resumed flow whose offered credential (TLS <= 1.2: SessionTicket ticket, else session ID;
     TLS 1.3: selected PSK identity, linked only with the file's companion key log) was issued by
     an earlier flow of the file inherits the answer of the full handshake that created the
     session: evidence=resumed, resumed_from, linked_by;
  B. a resumed flow not linked, or a pooled one (handshake not captured), is mtls (inferred) when
     the file's full handshakes to the same server prove it demands a certificate: demand,
     demand_flows.
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
    # session resumption
    "ip.dst", "ipv6.dst", "tls.record.content_type", "tls.handshake.session_id", "tls.handshake.session_ticket",
    "tls.handshake.extension.type", "tls.handshake.extension.len", "tls.handshake.extension.data",
    "tls.handshake.extensions.psk.identity.identity",
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


def tls_facts(cli_rows, srv_rows, prev):
    """The handshake facts of one TLS flow. `prev` (notes of the flow's current line in
    expected.tsv, or None) supplies what only decryption shows when the keys do not decrypt a TLS
    1.3 handshake (a capture not made again by an ONLY= run)."""
    types_c = [t for r in cli_rows for t in r["tls.handshake.type"]]
    types_s = [t for r in srv_rows for t in r["tls.handshake.type"]]
    sh = next((r for r in srv_rows if "2" in r["tls.handshake.type"]), None)
    ch = next((r for r in cli_rows if "1" in r["tls.handshake.type"]), None)
    f = {"sh": sh, "ch": ch, "version": "?", "suite": "", "resumed": False, "linked": None}
    if sh is not None:
        sv = sh["tls.handshake.extensions.supported_version"]
        hv = sh["tls.handshake.version"]
        f["version"] = "1.3" if "0x0304" in sv else {"0x0303": "1.2", "0x0302": "1.1"}.get(
            hv[-1] if hv else "", "?")
        f["suite"] = SUITES.get(first(sh, "tls.handshake.ciphersuite"), first(sh, "tls.handshake.ciphersuite"))
    tls13 = f["version"] == "1.3"
    f["sni"] = first(ch, "tls.handshake.extensions_server_name") if ch is not None else ""
    f["alpn_offered"] = ",".join(ch["tls.handshake.extensions_alpn_str"]) if ch is not None else ""
    # resumption: TLS 1.3 pre_shared_key accepted; TLS <= 1.2 the server echoes the client's session
    # ID, or goes on to its ChangeCipherSpec without Certificate, ServerKeyExchange, ServerHelloDone
    f["sid_offered"] = first(ch, "tls.handshake.session_id") if ch is not None else ""
    f["sid_server"] = first(sh, "tls.handshake.session_id") if sh is not None else ""
    if sh is not None:
        if tls13:
            f["resumed"] = bool(sh["tls.handshake.extensions.psk.identity.selected"])
        else:
            srv_ccs = any("20" in r["tls.record.content_type"] for r in srv_rows)
            f["resumed"] = f["sid_offered"] != "" and f["sid_server"] == f["sid_offered"] or \
                srv_ccs and not {"11", "12", "14"} & set(types_s)
    # credentials: TLS <= 1.2 tickets of NewSessionTicket (in the clear), the offered ticket of the
    # SessionTicket extension (35); TLS 1.3 the PSK identity the server selected
    f["tickets_issued"] = [] if tls13 else [t for r in srv_rows for t in r["tls.handshake.session_ticket"]]
    f["ticket_offered"] = ""
    f["psk_identity"] = ""
    if ch is not None:
        ext_types, ext_lens = ch["tls.handshake.extension.type"], ch["tls.handshake.extension.len"]
        if "35" in ext_types and len(ext_types) == len(ext_lens):
            n = int(ext_lens[ext_types.index("35")])
            cands = {d for d in ch["tls.handshake.extension.data"] if len(d) == 2 * n} if n else set()
            if len(cands) > 1:
                sys.exit("ambiguous SessionTicket extension in a ClientHello")
            f["ticket_offered"] = cands.pop() if cands else ""
        sel = sh["tls.handshake.extensions.psk.identity.selected"] if sh is not None else []
        idents = ch["tls.handshake.extensions.psk.identity.identity"]
        if sel and int(sel[0]) < len(idents):
            f["psk_identity"] = idents[int(sel[0])]
    # the facts only decryption shows in TLS 1.3 (EncryptedExtensions present: decrypted)
    f["cert_req"] = "13" in types_s
    cert_row = next((r for r in cli_rows if "11" in r["tls.handshake.type"]), None)
    f["cert_msg"] = cert_row is not None
    f["chain"] = len(cert_row["tls.handshake.certificate_length"]) if cert_row is not None else 0
    f["client_ids"] = (cert_row["x509ce.uniformResourceIdentifier"] +
                       ["dns:" + d for d in cert_row["x509ce.dNSName"]]) if cert_row is not None else []
    f["server_ids"] = [i for r in srv_rows if "11" in r["tls.handshake.type"]
                       for i in r["x509ce.uniformResourceIdentifier"] + ["dns:" + d for d in r["x509ce.dNSName"]]]
    f["alpn_selected"] = next((a for r in srv_rows for a in r["tls.handshake.extensions_alpn_str"]), "")
    f["alerts"] = ["%s:%s" % (who, ALERTS.get(a, a))
                   for who, rs in (("client", cli_rows), ("server", srv_rows))
                   for r in rs for a in r["tls.alert_message.desc"] if a != "0"]
    f["client_flight"] = "20" in types_c or "16" in types_c
    f["from_previous"] = False
    if tls13 and "8" not in types_s and prev is not None:
        f["from_previous"] = True
        f["cert_req"] = prev.get("cert_requested") == "true"
        f["cert_msg"] = "client_chain" in prev
        f["chain"] = int(prev.get("client_chain", "0"))
        f["client_ids"] = [prev["client_id"]] if "client_id" in prev else []
        f["server_ids"] = [prev["server_id"]] if "server_id" in prev else []
        f["alpn_selected"] = prev.get("alpn_selected", "")
        f["alerts"] = prev.get("alert", [])
        f["client_flight"] = prev.get("evidence") is not None and not f["cert_msg"]
    elif tls13 and sh is not None and "8" not in types_s:
        sys.exit("a TLS 1.3 handshake the keys do not decrypt, and no --previous line for it")
    cc = "null"
    if f["cert_msg"]:
        cc = "true" if f["chain"] > 0 else "false"
    elif f["resumed"]:
        cc = "null"
    elif not f["cert_req"] and sh is not None and f["client_flight"]:
        cc = "false"  # not asked: the client's flight ends without a Certificate
    f["cc"] = cc
    f["full"] = ch is not None and sh is not None and not f["resumed"]
    f["failed"] = bool(f["alerts"])  # an alert other than close_notify, from either side
    f["server_rejected"] = any(a.startswith("server:") for a in f["alerts"])
    return f


def analyse(path, keys, prev=None):
    """The flows of a capture in order: (info, verdict, cc, head notes, tail notes, facts); the
    evidence notes go between head and tail (see apply_rules). prev: {order: (client_port,
    server_port, notes)} of the file's current lines in expected.tsv."""
    prev = prev or {}
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
            fl["syn"] = True
        fl["rows"].append((src, r))
    results = []
    for order, (sid, fl) in enumerate(sorted(flows.items(), key=lambda kv: kv[1]["first"]), 1):
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
        server_ip = next((s[0] for s, _ in rows if s != client), "")
        if not server_ip and cli_rows:
            server_ip = first(cli_rows[0], "ip.dst") or first(cli_rows[0], "ipv6.dst")
        links = sorted({LINKS.get(first(r, "frame.encap_type"), first(r, "frame.encap_type")) for _, r in rows}
                       - {""})
        cli_data = [r for r in cli_rows if int(first(r, "tcp.len", "0") or 0) > 0]
        srv_data = [r for r in srv_rows if int(first(r, "tcp.len", "0") or 0) > 0]
        notes, tail = [], []
        cc = "null"
        facts = {"sid": sid, "server": (server_ip, fl["server_port"]), "tls": False}
        if not cli_data and not srv_data:
            verdict = "empty"
        elif cli_data and is_tls(first(cli_data[0], "tcp.payload")) or \
                not cli_data and is_tls(first(srv_data[0], "tcp.payload")):
            p = prev.get(order)
            if p is not None and (p[0], p[1]) != (info["client_port"], info["server_port"]):
                p = None
            f = tls_facts(cli_rows, srv_rows, p[2] if p else None)
            facts.update(f)
            facts["tls"] = True
            facts["pooled"] = f["ch"] is None and f["sh"] is None and not fl.get("syn")
            cc = f["cc"]
            verdict = "mtls" if cc == "true" else "tls"
            if facts["pooled"]:
                notes.append("handshake=not-captured")
            else:
                notes.append("tls=" + f["version"])
                if f["suite"]:
                    notes.append("suite=" + f["suite"])
                if f["sni"]:
                    notes.append("sni=" + f["sni"])
                if f["alpn_offered"]:
                    notes.append("alpn_offered=" + f["alpn_offered"])
                if f["sh"] is not None:
                    if f["alpn_selected"]:
                        notes.append("alpn_selected=" + f["alpn_selected"])
                else:
                    notes.append("handshake=incomplete")
                notes.append("cert_requested=" + ("true" if f["cert_req"] else "false"))
                if f["version"] == "1.3":
                    # the client's records after its ClientHello(s): type:outer_length, what the
                    # size-based inference sees (Finished alone is 53 for SHA-256 suites, 69 for SHA-384)
                    recs = records(b"".join(bytes.fromhex(first(r, "tcp.payload")) for r in cli_data))
                    notes.append("client_records=" + ",".join("%d:%d" % tl for tl in recs if tl[0] != 22)[:80])
                if f["resumed"]:
                    notes.append("resumed=true")
                if sum(1 for r in cli_rows for t in r["tls.handshake.type"] if t == "1") > 1:
                    notes.append("hello_retry=true")
                if f["cert_msg"]:
                    notes.append("client_chain=%d" % f["chain"])
                    if f["client_ids"]:
                        notes.append("client_id=" + f["client_ids"][0])
                if f["server_ids"]:
                    notes.append("server_id=" + f["server_ids"][0])
            tail += ["alert=" + a for a in f["alerts"]]
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
        tail.append("close=" + ("rst" if rst else "fin" if len(fins) == 2 else "open"))
        if links:
            tail.append("link=" + ",".join(links))
        if path.endswith(".pcapng"):
            tail.append("interface=" + ",".join(sorted({first(r, "frame.interface_id") for _, r in rows})))
        hatypes = {first(r, "sll.hatype") for _, r in rows} - {""}
        if hatypes:
            tail.append("arphrd=" + ",".join(sorted(hatypes)))
        results.append({"info": info, "verdict": verdict, "cc": cc, "head": notes, "tail": tail,
                        "facts": facts, "order": order})
    return results


def tls13_tickets(path, keys, flows):
    """{tcp.stream: tickets of the server's NewSessionTickets}, decrypted with `keys` alone."""
    cmd = ["tshark", "-n", "-r", path, "-o", "tcp.desegment_tcp_streams:TRUE", "-o", "tls.keylog_file:" + keys,
           "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|", "-E", "separator=\t",
           "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tls.handshake.session_ticket", "tls.handshake.type == 4"]
    client_port = {fl["facts"]["sid"]: fl["info"]["client_port"] for fl in flows}
    out = {}
    for line in subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines():
        sid, sport, tickets = (line.split("\t") + ["", ""])[:3]
        if tickets and sport != client_port.get(sid):
            out.setdefault(sid, []).extend(tickets.split("|"))
    return out


def demand(flows, target):
    """Rule B: what the full handshakes of the capture to the same server (and SNI) prove the
    server demands: (rule, [orders]) or None."""
    sni = target["facts"].get("sni", "")
    full = [fl for fl in flows if fl is not target and fl["facts"]["tls"] and fl["facts"].get("full")
            and fl["facts"]["server"] == target["facts"]["server"]
            and (not sni or fl["facts"]["sni"] in ("", sni))]
    orders = [fl["order"] for fl in full]
    completed = [fl["facts"] for fl in full if not fl["facts"]["failed"]]
    if any(f["cc"] == "false" or f["cc"] == "null" and not f["cert_msg"] for f in completed):
        return None  # a client without a certificate got through
    rejected = [f for f in (fl["facts"] for fl in full)
                if f["failed"] and f["server_rejected"] and (f["cert_msg"] and f["chain"] == 0 or
                                                              not f["cert_msg"] and f["cert_req"])]
    if rejected:
        return "rejected-without-certificate", orders
    if completed and all(f["cert_req"] for f in completed):
        return "certificate-requested-in-every-full-handshake", orders
    return None


def apply_rules(path, flows, companion):
    """Evidence of every TLS flow: observed / inferred / decrypted for a full handshake; rule A
    (a resumed flow linked by a credential to the handshake that created its session: `resumed`);
    rule B (a resumed flow not linked, or a pooled one: what the server demands). Sets verdict, cc
    and the notes `evidence`, `resumed_from`, `linked_by`, `demand`, `demand_flows`, and the
    with-key-log answer (`keylog`) of a TLS 1.3 flow linked by the companion key log."""
    tickets13 = tls13_tickets(path, companion, flows) if companion else {}
    issued = {}  # credential -> order of the full handshake that created the session (or None)
    for fl in flows:
        f = fl["facts"]
        fl["evidence"] = []
        if not f["tls"]:
            continue
        if fl["cc"] != "null":
            if f["version"] == "1.3":
                fl["evidence"].append("evidence=" + ("decrypted" if has_dsb(path) else "inferred"))
            else:
                fl["evidence"].append("evidence=observed")
        origin = fl["order"] if f.get("full") else None
        if f.get("resumed"):
            if f["version"] == "1.3":
                offered = [("psk-identity", f["psk_identity"])] if companion else []
            else:
                offered = [("session-ticket", f["ticket_offered"]), ("session-id", f["sid_offered"])]
            link = next(((how, issued[c]) for how, c in offered if c and issued.get(c)), None)
            if link:
                how, origin = link
                orig = next(o for o in flows if o["order"] == origin)
                link_notes = ["resumed_from=%d" % origin, "linked_by=" + how]
                if f["version"] == "1.3":  # only with the key log
                    fl["keylog"] = orig["cc"]
                    fl["link_notes"] = link_notes
                else:
                    fl["cc"] = orig["cc"]
                    fl["verdict"] = "mtls" if orig["cc"] == "true" else "tls"
                    fl["evidence"] = ["evidence=resumed"] + link_notes
        if fl["cc"] == "null" and (f.get("resumed") or f.get("pooled")):
            d = demand(flows, fl)
            if d:
                fl["cc"], fl["verdict"] = "true", "mtls"
                fl["evidence"] = ["evidence=inferred", "demand=" + d[0],
                                  "demand_flows=" + ",".join(map(str, d[1]))]
        fl["evidence"] += fl.get("link_notes", [])
        # the credentials this flow issued, for the flows after it
        creds = [f["sid_server"]] if f["version"] != "1.3" and f.get("sid_server") else []
        creds += f.get("tickets_issued", []) + (tickets13.get(f["sid"], []) if f["version"] == "1.3" else [])
        for c in creds:
            issued.setdefault(c, origin)


def key_log_of(folder, name):
    """The key log committed with a capture: X-keylog.pcap -> X.keys, rustls-X.pcap -> rustls-X.keys."""
    if name.endswith("-keylog.pcap"):
        return name.replace("-keylog.pcap", ".keys")
    if name.startswith("rustls-") and name.endswith(".pcap"):
        keys = name[:-len(".pcap")] + ".keys"
        if os.path.exists(os.path.join(folder, keys)):
            return keys
    return ""


def previous_lines(path):
    """{file: {order: (client_port, server_port, notes)}} of an expected.tsv; repeated keys (alert)
    are lists."""
    out = {}
    if not path or not os.path.exists(path):
        return out
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        cols = line.rstrip("\n").split("\t")
        notes = {}
        for kv in cols[5].split(";"):
            k, _, v = kv.partition("=")
            if k == "alert":
                notes.setdefault(k, []).append(v)
            else:
                notes[k] = v
        out.setdefault(cols[0], {})[int(notes["order"])] = (cols[1], cols[2], notes)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--keys", required=True, help="key log of every TLS client in the captures")
    ap.add_argument("--only", action="append", default=[],
                    help="only the captures whose name starts with this (repeatable)")
    ap.add_argument("--previous", default="",
                    help="expected.tsv whose lines supply the decrypted facts of TLS 1.3 flows "
                         "that --keys does not decrypt (captures not made again)")
    a = ap.parse_args()
    prev = previous_lines(a.previous)
    # the sidecar captures of make-mesh-sample.sh, the evasion captures of
    # make-evasion-samples.sh and the encrypted-* captures of make-encrypted-samples.sh have their
    # own checks (tests/mesh.rs, tests/evasion.rs, tests/encrypted.rs)
    names = sorted(n for n in os.listdir(a.dir)
                   if n.endswith((".pcap", ".pcapng", ".pcap.gz"))
                   and not n.startswith(("mesh-", "evasion-", "encrypted-")) and
                   (not a.only or n.startswith(tuple(a.only))))
    print("#file\tclient_port\tserver_port\texpected_verdict\tclient_cert\tnotes")
    for n in names:
        path = os.path.join(a.dir, n)
        companion = key_log_of(a.dir, n)
        flows = analyse(path, a.keys, prev.get(n))
        apply_rules(path, flows, os.path.join(a.dir, companion) if companion else "")
        for fl in flows:
            extra = ["order=%d" % fl["order"]]
            if n == "truncated.pcap":
                extra.append("truncated=true")
            if "keylog" in fl:
                extra.append("with_keylog=%s:resumed" % companion)
                extra.append("with_keylog_client_cert=" + fl["keylog"])
            elif companion and fl["facts"].get("full") and "evidence=inferred" in fl["evidence"]:
                extra.append("with_keylog=%s:decrypted" % companion)
            print("\t".join([n, fl["info"]["client_port"], fl["info"]["server_port"], fl["verdict"], fl["cc"],
                             ";".join(extra + fl["head"] + fl["evidence"] + fl["tail"])]))


if __name__ == "__main__":
    sys.exit(main())
