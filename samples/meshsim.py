#!/usr/bin/env python3
"""Tiny stand-ins for the parts of an Istio sidecar pod, for samples/make-mesh-sample.sh.

Every role serves a bounded number of connections and exits; nothing here talks to anything but
the addresses it is given (test namespaces made by the script).

  sidecar  PKI CERT                 the sidecar of the captured pod:
                                    - outbound 0.0.0.0:15001 (iptables REDIRECT sends the app's
                                      connections here): plaintext in, mTLS out to the upstream
                                      named by the original destination, with Istio SNI and ALPN;
                                    - inbound 0.0.0.0:15006 (REDIRECT of port 9080): mTLS in,
                                      plaintext to the application from 127.0.0.6.
  mtls-server PKI CERT ADDR:PORT N  a peer pod's sidecar + app: mTLS listener answering HTTP.
  mtls-client PKI CERT ADDR:PORT SNI PATH   a peer pod calling the captured pod over mTLS.
  http-server ADDR:PORT N           a plaintext HTTP server (app, health and metrics ports).

Roles for the client-identity captures (make-mesh-sample.sh, MODE=xfcc):

  inbound-proxy MESH PKI CERT PORT N   the captured pod's inbound proxy, MESH istio or linkerd,
                                    listening on 0.0.0.0:PORT (15006 or 4143, where iptables
                                    REDIRECT sends inbound traffic) for N connections, PERMISSIVE:
                                    TLS (first byte 0x16) is terminated, anything else is read as
                                    plaintext HTTP/1.1. Each request is forwarded on a new loopback
                                    connection (the application answers `Connection: close`):
                                    istio from 127.0.0.6 to POD_IP:PORT, linkerd to 127.0.0.1:PORT.
                                    Header names are lowercased as Envoy's and hyper's HTTP/1 codecs
                                    write them; hop-by-hop headers are dropped. Client identity:
                                    istio (forward_client_cert_details APPEND_FORWARD) appends
                                    `x-forwarded-client-cert: By=<own URI SAN>;Hash=<SHA-256 of the
                                    client leaf DER>;Subject="<RFC 2253>";URI=<client URI SAN>` when
                                    the client presented a certificate, else removes the header;
                                    linkerd removes any `l5d-client-id` and sets it to the client
                                    certificate's DNS SAN when there is one.
  mesh-client MESH PKI CERT ADDR:PORT SNI TRIGGER HOST REQUEST...
                                    the peer pod's outbound proxy: one TLS 1.3 connection (istio:
                                    Istio ALPN; linkerd: no ALPN, server identity checked against
                                    SNI), prints "ready" once the handshake is done, waits until the
                                    file TRIGGER exists (`-`: no wait), then sends each REQUEST on
                                    the same connection (keep-alive), 0.2 s apart, reading each
                                    response; then close_notify and FIN. REQUEST is PATH, or
                                    PATH|Name: value|Name: value for extra headers.
"""

import hashlib
import os
import time

import socket
import ssl
import struct
import sys
import threading

SO_ORIGINAL_DST = 80
ISTIO_ALPN = ["istio-http/1.1", "istio", "http/1.1"]
TIMEOUT = 10

# ClusterIP:port -> (pod address, port, Istio SNI): what istiod would have told the sidecar.
UPSTREAMS = {
    ("10.96.0.20", 9080): (
        "10.44.0.20",
        9080,
        "outbound_.9080_._.details.bookinfo.svc.cluster.local",
    ),
}


def context(pki, cert, server):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(f"{pki}/{cert}.crt", f"{pki}/{cert}.key")
    ctx.load_verify_locations(f"{pki}/ca.crt")
    ctx.set_alpn_protocols(ISTIO_ALPN)
    ctx.verify_mode = ssl.CERT_REQUIRED
    if not server:
        # Istio checks the SPIFFE ID, not the host name
        ctx.check_hostname = False
    return ctx


def read_request(sock):
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def relay(a, b):
    t = threading.Thread(target=pipe, args=(b, a), daemon=True)
    t.start()
    pipe(a, b)
    t.join(TIMEOUT)
    for s in (a, b):
        try:
            s.close()
        except OSError:
            pass


def listener(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(8)
    s.settimeout(30)
    return s


def outbound(pki, cert, srv):
    conn, _ = srv.accept()
    conn.settimeout(TIMEOUT)
    raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port, packed = struct.unpack("!2xH4s8x", raw)
    dst = (socket.inet_ntoa(packed), port)
    host, up_port, sni = UPSTREAMS[dst]
    up = socket.create_connection((host, up_port), timeout=TIMEOUT)
    tls = context(pki, cert, False).wrap_socket(up, server_hostname=sni)
    relay(conn, tls)


def inbound(pki, cert, srv):
    conn, _ = srv.accept()
    conn.settimeout(TIMEOUT)
    tls = context(pki, cert, True).wrap_socket(conn, server_side=True)
    local = tls.getsockname()[0]
    app = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    app.settimeout(TIMEOUT)
    app.bind(("127.0.0.6", 0))
    app.connect((local, 9080))
    relay(tls, app)


def sidecar(pki, cert):
    out_srv = listener("0.0.0.0", 15001)
    in_srv = listener("0.0.0.0", 15006)
    threads = [
        threading.Thread(target=outbound, args=(pki, cert, out_srv)),
        threading.Thread(target=inbound, args=(pki, cert, in_srv)),
    ]
    print("ready", flush=True)
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def respond(sock, name):
    req = read_request(sock)
    line = req.split(b"\r\n", 1)[0].decode("latin-1")
    body = f'{{"served_by": "{name}", "request": "{line}"}}\n'.encode()
    sock.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def mtls_server(pki, cert, addr, count):
    host, port = addr.rsplit(":", 1)
    srv = listener(host, int(port))
    ctx = context(pki, cert, True)
    print("ready", flush=True)
    for _ in range(count):
        conn, _ = srv.accept()
        conn.settimeout(TIMEOUT)
        with ctx.wrap_socket(conn, server_side=True) as tls:
            respond(tls, cert)


def mtls_client(pki, cert, addr, sni, path):
    host, port = addr.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    with context(pki, cert, False).wrap_socket(sock, server_hostname=sni) as tls:
        tls.sendall(
            f"GET {path} HTTP/1.1\r\nHost: productpage.bookinfo:9080\r\n"
            "User-Agent: Envoy/HC\r\nConnection: close\r\n\r\n".encode()
        )
        while tls.recv(65536):
            pass


def http_server(addr, count):
    host, port = addr.rsplit(":", 1)
    srv = listener(host, int(port))
    print("ready", flush=True)
    for _ in range(count):
        conn, _ = srv.accept()
        conn.settimeout(TIMEOUT)
        with conn:
            respond(conn, f"{host}:{port}")


# ---------------------------------------------------------------- client-identity roles


def mesh_context(mesh, pki, cert, server):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(f"{pki}/{cert}.crt", f"{pki}/{cert}.key")
    ctx.load_verify_locations(f"{pki}/ca.crt")
    if mesh == "istio":
        ctx.set_alpn_protocols(ISTIO_ALPN)
        # Istio checks the SPIFFE ID, not the host name; its mTLS requires a client certificate
        ctx.verify_mode = ssl.CERT_REQUIRED
        if not server:
            ctx.check_hostname = False
    else:
        # Linkerd: no ALPN for HTTP; the client checks the server identity (DNS SAN = SNI); the
        # server asks for a client certificate but also serves clients without one
        ctx.verify_mode = ssl.CERT_OPTIONAL if server else ssl.CERT_REQUIRED
    return ctx


class HttpStream:
    """Reads HTTP/1.1 messages (Content-Length bodies) from a socket, keeping what is left over."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError, ConnectionResetError):
            chunk = b""
        self.buf += chunk
        return bool(chunk)

    def read(self):
        """-> (start line, [(name, value)], body), or None at the end of the stream."""
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 65536 or not self._fill():
                return None
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        length = 0
        for name, value in headers:
            if name.lower() == "content-length":
                length = int(value)
        while len(self.buf) < length:
            if not self._fill():
                break
        body, self.buf = self.buf[:length], self.buf[length:]
        return lines[0], headers, body


def serialize(start, headers, body):
    head = start + "\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n"
    return head.encode("latin-1") + body


HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade"}


def wants_close(headers):
    return any(n.lower() == "connection" and "close" in v.lower() for n, v in headers)


def sans(cert, kind):
    return [v for k, v in cert.get("subjectAltName", ()) if k == kind]


def rfc2253(cert):
    # the subject RDNs, most specific first, as Envoy prints them
    rdns = []
    for rdn in reversed(cert.get("subject", ())):
        short = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
                 "countryName": "C", "localityName": "L", "stateOrProvinceName": "ST"}
        rdns.append("+".join(f"{short.get(k, k)}={v}" for k, v in rdn))
    return ",".join(rdns)


def client_identity(mesh, own_cert, tls):
    """The value the proxy forwards for this downstream connection, or None (no certificate)."""
    if tls is None:
        return None
    der = tls.getpeercert(binary_form=True)
    if not der:
        return None
    peer = tls.getpeercert()
    if mesh == "linkerd":
        dns = sans(peer, "DNS")
        return dns[0] if dns else None
    # Envoy's element order: By, Hash, Cert, Chain, Subject, URI, DNS
    parts = []
    by = sans(own_cert, "URI")
    if by:
        parts.append(f"By={by[0]}")
    parts.append(f"Hash={hashlib.sha256(der).hexdigest()}")
    parts.append(f'Subject="{rfc2253(peer)}"')
    parts += [f"URI={u}" for u in sans(peer, "URI")]
    parts += [f"DNS={d}" for d in sans(peer, "DNS")]
    return ";".join(parts)


def forward_headers(mesh, headers, identity):
    """The request headers as the proxy sends them to the application."""
    out = [(n.lower(), v) for n, v in headers if n.lower() not in HOP_BY_HOP]
    if mesh == "istio":
        name = "x-forwarded-client-cert"
        if identity is None:  # not mTLS: Envoy sanitizes
            return [(n, v) for n, v in out if n != name]
        old = [v for n, v in out if n == name]
        if not old:
            return out + [(name, identity)]
        value = ",".join(old + [identity])  # APPEND_FORWARD
        first = next(i for i, (n, _) in enumerate(out) if n == name)
        out = [(n, v) for n, v in out if n != name]
        out.insert(first, (name, value))
        return out
    name = "l5d-client-id"
    out = [(n, v) for n, v in out if n != name]
    if identity is not None:
        out.append((name, identity))
    return out


def original_dst(sock):
    raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port, packed = struct.unpack("!2xH4s8x", raw)
    return socket.inet_ntoa(packed), port


def proxy_connection(mesh, pki, cert, own_cert, conn):
    conn.settimeout(TIMEOUT)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as Envoy and Linkerd do
    pod_ip, port = original_dst(conn)
    tls = None
    stream = conn
    if conn.recv(1, socket.MSG_PEEK) == b"\x16":
        tls = mesh_context(mesh, pki, cert, True).wrap_socket(conn, server_side=True)
        stream = tls
    identity = client_identity(mesh, own_cert, tls)
    downstream = HttpStream(stream)
    while True:
        req = downstream.read()
        if req is None:
            break
        start, headers, body = req
        app = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        app.settimeout(TIMEOUT)
        app.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if mesh == "istio":
            app.bind(("127.0.0.6", 0))
            app.connect((pod_ip, port))
        else:
            app.connect(("127.0.0.1", port))
        with app:
            app.sendall(serialize(start, forward_headers(mesh, headers, identity), body))
            resp = HttpStream(app).read()
        if resp is None:
            break
        rstart, rheaders, rbody = resp
        close = wants_close(headers)
        rheaders = [(n.lower(), v) for n, v in rheaders if n.lower() not in HOP_BY_HOP]
        if close:
            rheaders.append(("connection", "close"))
        stream.sendall(serialize(rstart, rheaders, rbody))
        if close:
            break
    try:
        if tls is not None:
            tls.unwrap()
    except (OSError, ValueError):
        pass
    conn.close()


def inbound_proxy(mesh, pki, cert, port, count):
    own = ssl._ssl._test_decode_cert(f"{pki}/{cert}.crt")
    srv = listener("0.0.0.0", port)

    def worker():
        conn, _ = srv.accept()
        proxy_connection(mesh, pki, cert, own, conn)

    # one thread per connection, started before any arrives (as Envoy's workers wait in accept):
    # a thread made at accept time can take milliseconds to run
    threads = [threading.Thread(target=worker) for _ in range(count)]
    for t in threads:
        t.start()
    print("ready", flush=True)
    for t in threads:
        t.join()


def mesh_client(mesh, pki, cert, addr, sni, trigger, host, requests):
    host_ip, port = addr.rsplit(":", 1)
    sock = socket.create_connection((host_ip, int(port)), timeout=TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    tls = mesh_context(mesh, pki, cert, False).wrap_socket(sock, server_hostname=sni)
    print("ready", flush=True)
    if trigger != "-":
        deadline = time.monotonic() + 25
        while not os.path.exists(trigger):
            if time.monotonic() > deadline:
                sys.exit("mesh-client: no trigger")
            time.sleep(0.005)
    stream = HttpStream(tls)
    for i, spec in enumerate(requests):
        if i:
            time.sleep(0.2)
        path, *extra = spec.split("|")
        headers = [("Host", host), ("Accept", "application/json")]
        headers += [tuple(x.strip() for x in h.split(":", 1)) for h in extra]
        tls.sendall(serialize(f"GET {path} HTTP/1.1", headers, b""))
        if stream.read() is None:
            sys.exit("mesh-client: no response")
    time.sleep(0.1)
    try:
        tls.unwrap()
    except (OSError, ValueError):
        pass
    sock.close()


def main(argv):
    role = argv[1]
    if role == "sidecar":
        sidecar(argv[2], argv[3])
    elif role == "mtls-server":
        mtls_server(argv[2], argv[3], argv[4], int(argv[5]))
    elif role == "mtls-client":
        mtls_client(argv[2], argv[3], argv[4], argv[5], argv[6])
    elif role == "http-server":
        http_server(argv[2], int(argv[3]))
    elif role == "inbound-proxy":
        inbound_proxy(argv[2], argv[3], argv[4], int(argv[5]), int(argv[6]))
    elif role == "mesh-client":
        mesh_client(argv[2], argv[3], argv[4], argv[5], argv[6], argv[7], argv[8], argv[9:])
    else:
        sys.exit(f"unknown role {role}")


if __name__ == "__main__":
    main(sys.argv)
