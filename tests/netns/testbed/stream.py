#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Timestamped UDP probe stream for delivery-gap and loss measurements.

    stream.py send --to ADDR --port P [--bind ADDR] [--interval-ms 10] --duration S
    stream.py recv --port P [--bind ADDR] --duration S [--out FILE]

The sender emits one datagram every interval (seq u64, send time u64 ns, padding) on an
absolute schedule, so a stalled path cannot make it send less. The receiver writes a JSON
summary: packets received, lost (from the sequence space), duplicates, out-of-order, the
largest gap between consecutive deliveries (the failover figure) and when it happened.
"""
import argparse
import json
import socket
import struct
import sys
import time

HDR = struct.Struct("!QQ")
END = 0xFFFFFFFFFFFFFFFF


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def send(a):
    s = socket.socket(family(a.to), socket.SOCK_DGRAM)
    if a.bind:
        s.bind((a.bind, 0))
    pad = b"\0" * max(0, a.size - HDR.size)
    interval = a.interval_ms / 1000.0
    n = int(a.duration / interval)
    t0 = time.monotonic()
    sent = errors = 0
    for seq in range(n):
        due = t0 + seq * interval
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            s.sendto(HDR.pack(seq, time.time_ns()) + pad, (a.to, a.port))
            sent += 1
        except OSError:
            errors += 1  # e.g. no route while the tunnel reconverges: counts as lost
    for _ in range(3):
        try:
            s.sendto(HDR.pack(END, n), (a.to, a.port))
        except OSError:
            pass
        time.sleep(0.05)
    print(json.dumps({"sent": sent, "send_errors": errors, "planned": n}))


def recv(a):
    s = socket.socket(family(a.bind or "0.0.0.0"), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((a.bind or ("::" if a.v6 else "0.0.0.0"), a.port))
    s.settimeout(0.2)
    deadline = time.monotonic() + a.duration
    seen = set()
    dups = ooo = 0
    highest = -1
    planned = None
    first_rx = last_rx = None
    max_gap = 0.0
    gap_at = None
    owd = []
    while time.monotonic() < deadline:
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        now = time.monotonic()
        if len(data) < HDR.size:
            continue
        seq, ts = HDR.unpack_from(data)
        if seq == END:
            planned = ts
            break
        if seq in seen:
            dups += 1
            continue
        seen.add(seq)
        owd.append((time.time_ns() - ts) / 1e6)
        if seq < highest:
            ooo += 1
        highest = max(highest, seq)
        if last_rx is not None and now - last_rx > max_gap:
            max_gap = now - last_rx
            gap_at = now - first_rx
        if first_rx is None:
            first_rx = now
        last_rx = now
    if planned is None and last_rx is not None:
        # The stream never finished: the silence up to now is a gap too.
        tail = time.monotonic() - last_rx
        if tail > max_gap:
            max_gap, gap_at = tail, last_rx - first_rx
    total = planned if planned is not None else highest + 1
    owd.sort()
    res = {
        "received": len(seen),
        "expected": total,
        "lost": max(0, total - len(seen)),
        "duplicates": dups,
        "out_of_order": ooo,
        "max_gap_ms": round(max_gap * 1000, 1),
        "max_gap_at_s": round(gap_at, 2) if gap_at is not None else None,
        "owd_median_ms": round(owd[len(owd) // 2], 2) if owd else None,
        "complete": planned is not None,
    }
    out = json.dumps(res)
    if a.out:
        with open(a.out, "w") as f:
            f.write(out + "\n")
    print(out)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    ps = sub.add_parser("send")
    ps.add_argument("--to", required=True)
    ps.add_argument("--port", type=int, required=True)
    ps.add_argument("--bind")
    ps.add_argument("--interval-ms", type=float, default=10)
    ps.add_argument("--duration", type=float, required=True)
    ps.add_argument("--size", type=int, default=64)
    pr = sub.add_parser("recv")
    pr.add_argument("--port", type=int, required=True)
    pr.add_argument("--bind")
    pr.add_argument("--v6", action="store_true")
    pr.add_argument("--duration", type=float, required=True)
    pr.add_argument("--out")
    a = p.parse_args()
    send(a) if a.cmd == "send" else recv(a)


if __name__ == "__main__":
    sys.exit(main())
