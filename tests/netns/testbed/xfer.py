#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Bulk TCP transfer with SHA-256 on both ends, for the e2e suite.

    xfer.py serve --port P [--bind A] [--send-bytes N]   # receives (hashes) or sends N random bytes
    xfer.py send --to A --port P --bytes N               # connects, sends N random bytes
    xfer.py fetch --to A --port P                        # connects, receives until EOF

Each side prints one JSON line: {"bytes": N, "sha256": "...", "seconds": S}. Data is
pseudo-random (seeded SHA-256 chain expanded with os.urandom blocks) so that no compression
could help, and hashed as it passes."""
import argparse
import hashlib
import json
import os
import socket
import sys
import time

BLOCK = 256 * 1024


def family(a):
    return socket.AF_INET6 if ":" in a else socket.AF_INET


def pump_out(conn, n):
    h = hashlib.sha256()
    block = os.urandom(BLOCK)
    sent = 0
    t0 = time.monotonic()
    while sent < n:
        chunk = block[: min(BLOCK, n - sent)]
        # vary the data so every block differs
        block = hashlib.sha256(block[:64]).digest() + block[32:]
        conn.sendall(chunk)
        h.update(chunk)
        sent += len(chunk)
    conn.shutdown(socket.SHUT_WR)
    # wait for the peer to close, so "sent" means "received"
    conn.settimeout(60)
    while conn.recv(65536):
        pass
    return {"bytes": sent, "sha256": h.hexdigest(), "seconds": round(time.monotonic() - t0, 3)}


def pump_in(conn):
    h = hashlib.sha256()
    n = 0
    t0 = time.monotonic()
    while True:
        b = conn.recv(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    return {"bytes": n, "sha256": h.hexdigest(), "seconds": round(time.monotonic() - t0, 3)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["serve", "send", "fetch"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--bind", default="")
    p.add_argument("--to")
    p.add_argument("--bytes", type=int, default=0)
    p.add_argument("--send-bytes", type=int, default=0)
    p.add_argument("--timeout", type=float, default=120)
    a = p.parse_args()
    if a.cmd == "serve":
        s = socket.socket(socket.AF_INET6 if ":" in a.bind else socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((a.bind, a.port))
        s.listen(1)
        s.settimeout(a.timeout)
        conn, _ = s.accept()
        conn.settimeout(a.timeout)
        r = pump_out(conn, a.send_bytes) if a.send_bytes else pump_in(conn)
        conn.close()
    else:
        conn = socket.create_connection((a.to, a.port), timeout=a.timeout)
        r = pump_out(conn, a.bytes) if a.cmd == "send" else pump_in(conn)
        conn.close()
    print(json.dumps(r), flush=True)


if __name__ == "__main__":
    sys.exit(main())
