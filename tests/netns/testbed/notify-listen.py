#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""sd_notify receiver for the testbed: binds NOTIFY_SOCKET (a path) and prints every state line
it receives, prefixed with a CLOCK_REALTIME timestamp, until terminated. The testbed waits for
READY=1 in this output, as systemd does for a Type=notify unit."""
import os
import signal
import socket
import sys
import time

path = sys.argv[1]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = "?"
    for level, typ, cdata in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
            pid = str(int.from_bytes(cdata[0:4], sys.byteorder))
    for line in data.decode(errors="replace").splitlines():
        print(f"{time.time():.3f} pid={pid} {line}", flush=True)
