#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Session load generator for bench/run (d): N concurrent sessions of P paths each on one server.

Speaks protocol version 1 (the server needs AcceptLegacyClients=yes) because version 2 derives
its keys from the TLS exporter, which Python's ssl module does not offer; for the server's
footprint a v1 session is the same Session object, lease, tunnel engine and path table.

    loadgen.py --bus ADDR --server 198.51.100.1 --sessions 250 --paths 4 \
               --bind 172.16.1.2,172.16.2.2,172.16.3.2,172.16.4.2 --hold 20 --workdir DIR

For each session: a client certificate through the server's D-Bus API (IssueCertificate), the
version 1 control exchange over mutual TLS (request, close_notify, response until EOF), then one
UDP socket per path (round robin over --bind) sending the authenticated handshake and a
heartbeat every 2 s for --hold seconds. Prints one JSON line with what was set up."""
import argparse
import base64
import json
import os
import resource
import select
import socket
import ssl
import struct
import subprocess
import sys
import time

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HDR = struct.Struct(">BBIIH10s")


def seal(key, typ, sid, seq, pt):
    nonce = os.urandom(12)
    hdr = HDR.pack(1, typ, sid, seq, 12 + len(pt) + 16, b"\0" * 10)
    return hdr + nonce + AESGCM(key).encrypt(nonce, pt, hdr)


def issue(bus, name, workdir):
    out = subprocess.run(["busctl", f"--address={bus}", "--json=short", "call", "org.fluxify.server1",
                          "/org/fluxify/server1/pki", "org.fluxify.server1.PKI", "IssueCertificate", "su", name, "30"],
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise RuntimeError(f"IssueCertificate {name}: {out.stderr.strip()}")
    pem = json.loads(out.stdout)["data"][0]
    blocks, cur = [], []
    for line in pem.splitlines():
        cur.append(line)
        if line.startswith("-----END"):
            blocks.append("\n".join(cur) + "\n")
            cur = []
    ca, cert, key = blocks[0], blocks[1], blocks[2]
    paths = {}
    for k, v in (("ca", ca), ("cert", cert), ("key", key)):
        paths[k] = os.path.join(workdir, f"{name}.{k}.pem")
        with open(paths[k], "w") as f:
            f.write(v)
    return paths


def v1_control(server, port, name, files, timeout=10):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(files["ca"])
    ctx.load_cert_chain(files["cert"], files["key"])
    sock = socket.create_connection((server, port), timeout=timeout)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_hostname=server)

    def flush():
        data = out.read()
        if data:
            sock.sendall(data)

    def feed():
        data = sock.recv(65536)
        if not data:
            inc.write_eof()
        else:
            inc.write(data)
        return bool(data)

    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            flush()
            if not feed():
                raise RuntimeError("EOF during the handshake")
    flush()
    tls.write(json.dumps({"client_name": name}).encode())
    try:
        tls.unwrap()  # close_notify: the v1 request ends at EOF
    except ssl.SSLWantReadError:
        pass
    flush()
    resp = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = tls.read(65536)
            if not chunk:
                break
            resp += chunk
        except ssl.SSLWantReadError:
            if not feed():
                break
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
        except ssl.SSLError:
            break
    sock.close()
    if not resp:
        raise RuntimeError("no response")
    r = json.loads(resp)
    return r["session_id"], base64.b64decode(r["session_key"]), r.get("udp_port", 8000), r.get("client_ip")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bus", required=True)
    ap.add_argument("--server", required=True)
    ap.add_argument("--control-port", type=int, default=8443)
    ap.add_argument("--sessions", type=int, default=250)
    ap.add_argument("--paths", type=int, default=4)
    ap.add_argument("--bind", required=True, help="comma-separated local addresses, used round robin per path")
    ap.add_argument("--hold", type=float, default=20)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--ready-file", help="touched once every session is set up")
    ap.add_argument("--prefix", default="load")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    binds = a.bind.split(",")
    os.makedirs(a.workdir, exist_ok=True)
    t0 = time.monotonic()
    sessions, errors = [], []
    for i in range(a.sessions):
        name = f"{a.prefix}{i:04d}"
        try:
            files = issue(a.bus, name, a.workdir)
            sid, key, udp_port, ip = v1_control(a.server, a.control_port, name, files)
        except Exception as e:  # noqa: BLE001 - reported, not fatal
            errors.append(f"{name}: {e}")
            continue
        socks = []
        for p in range(a.paths):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((binds[p % len(binds)], 0))
            s.setblocking(False)
            s.connect((a.server, udp_port))
            s.send(seal(key, 3, sid, 0, b""))  # handshake: registers the path
            socks.append(s)
        sessions.append({"name": name, "id": sid, "key": key, "socks": socks, "ip": ip})
    setup_s = time.monotonic() - t0
    if a.ready_file:
        open(a.ready_file, "w").close()
    # Keep every path alive: a heartbeat per path every 2 s; drain the echoes.
    end = time.monotonic() + a.hold
    echoes = 0
    next_hb = 0.0
    fds = {s.fileno(): s for x in sessions for s in x["socks"]}
    poller = select.epoll()
    for fd in fds:
        poller.register(fd, select.EPOLLIN)
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_hb:
            for x in sessions:
                for s in x["socks"]:
                    try:
                        s.send(seal(x["key"], 2, x["id"], 0, struct.pack(">q", time.time_ns())))
                    except OSError:
                        pass
            next_hb = now + 2.0
        for fd, _ in poller.poll(0.2):
            try:
                while fds[fd].recv(2048):
                    echoes += 1
            except OSError:
                pass
    print(json.dumps({"sessions": len(sessions), "paths": sum(len(x["socks"]) for x in sessions),
                      "setup_seconds": round(setup_s, 1), "echoes": echoes, "errors": errors[:5],
                      "n_errors": len(errors)}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
