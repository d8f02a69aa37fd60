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
"""

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
    else:
        sys.exit(f"unknown role {role}")


if __name__ == "__main__":
    main(sys.argv)
