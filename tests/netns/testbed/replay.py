#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Re-sends captured UDP datagrams (from a tcpdump pcap) for the e2e replay/forgery test.

    replay.py --pcap F verbatim          # the exact IP packets again, same source addr:port (raw socket)
    replay.py --pcap F newsrc            # the same UDP payloads from this host's own addr:port
    replay.py --pcap F forge [--newsrc]  # tampered copies: flipped ciphertext, tag, header (AAD)
                                         # bytes, truncations, garbage with the session id kept

Prints {"sent": N} on stdout. IPv4 only (the testbed's uplinks are IPv4)."""
import argparse
import json
import os
import random
import socket
import struct
import sys


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(end + "I", data[20:24])[0]
    off = 24
    out = []
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(end + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if linktype == 1:  # Ethernet
            if len(frame) < 14 or frame[12:14] != b"\x08\x00":
                continue
            ip = frame[14:]
        elif linktype == 113:  # Linux cooked
            ip = frame[16:]
        elif linktype == 101:  # raw IP
            ip = frame
        else:
            continue
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 15) * 4
        src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
        sport, dport, ulen = struct.unpack("!HHH", ip[ihl:ihl + 6])
        out.append({"ip": ip[: struct.unpack("!H", ip[2:4])[0]], "src": src, "dst": dst,
                    "sport": sport, "dport": dport, "payload": ip[ihl + 8:ihl + ulen]})
    return out


def build_ip(src, dst, sport, dport, payload, ident):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload  # checksum 0: none (IPv4)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident, 0, 64, 17, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    return hdr + udp


def forgeries(p, rng):
    b = p["payload"]
    if len(b) < 22 + 12 + 16 + 1:
        return []
    out = []
    def flip(i):
        x = bytearray(b)
        x[i] ^= 0x01 << rng.randrange(8)
        return bytes(x)
    out.append(flip(rng.randrange(34, len(b) - 16)))     # ciphertext
    out.append(flip(len(b) - 1 - rng.randrange(16)))     # tag
    out.append(flip(rng.randrange(10, 22)))              # header / AAD (seq, length, reserved)
    out.append(flip(22 + rng.randrange(12)))             # explicit nonce
    out.append(b[: len(b) - 1 - rng.randrange(16)])      # truncated tag
    out.append(b[:22])                                   # header only
    out.append(b[:6] + os.urandom(len(b) - 6))           # garbage behind a valid session id
    out.append(os.urandom(rng.randrange(1, 1400)))       # pure garbage
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--count", type=int, default=0, help="use at most this many captured datagrams")
    ap.add_argument("--newsrc", action="store_true", help="forge: send from this host's own socket")
    ap.add_argument("mode", choices=["verbatim", "newsrc", "forge"])
    a = ap.parse_args()
    pkts = read_pcap(a.pcap)
    if a.count:
        pkts = pkts[: a.count]
    rng = random.Random(1234)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0
    for p in pkts:
        if a.mode == "verbatim":
            raw.sendto(p["ip"], (p["dst"], 0))
            sent += 1
        elif a.mode == "newsrc":
            udp.sendto(p["payload"], (p["dst"], p["dport"]))
            sent += 1
        else:
            for f in forgeries(p, rng):
                if a.newsrc:
                    udp.sendto(f, (p["dst"], p["dport"]))
                else:
                    raw.sendto(build_ip(p["src"], p["dst"], p["sport"], p["dport"], f, rng.randrange(65536)),
                               (p["dst"], 0))
                sent += 1
    print(json.dumps({"sent": sent, "captured": len(pkts)}))


if __name__ == "__main__":
    sys.exit(main())
