#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""fluxifyd-server's data plane in two network namespaces joined by a veth pair.

A test client built from the project's libraries (tests/netns/test-server-client.c: control
client + tunnel engine, two UDP paths) sets up a session, registers its paths, measures RTT,
pings the server's tunnel addresses through the TUN, then replays and forges datagrams. The
server's counters and objects are checked over D-Bus (private bus, project policy). Then:
Terminate() and RevokeCertificate() end sessions at once (the client hears "bye"), a revoked
client cannot come back, and after kill -9 a restart removes the stale nft table, and a clean
stop leaves no table, device, address or record behind.

Usage: test-server-dataplane.py DAEMON CLIENT [--update-xml]
"""

import importlib.util
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, '..', '..'))
spec = importlib.util.spec_from_file_location('busTest', os.path.join(SRC, 'tests', 'bus', 'test-server-bus.py'))
bt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bt)

check = bt.check
BUS_NAME, ROOT, PKI, MGR_IF, PKI_IF = bt.BUS_NAME, bt.ROOT, bt.PKI, bt.MGR_IF, bt.PKI_IF
SESSION_IF = 'org.fluxify.server1.Session'
CONN_IF = 'org.fluxify.server1.Connection'
SERVER_IP, CLIENT_IP = '192.168.77.1', '192.168.77.2'
SERVER_IP6, CLIENT_IP6 = 'fd00:77::1', 'fd00:77::2'
WAN_SERVER, WAN_HOST = '192.168.88.1', '192.168.88.2'
WAN_SERVER6, WAN_HOST6 = 'fd00:88::1', 'fd00:88::2'
RESUME_TIMEOUT = 4


def sh(*args, check_rc=True, ns=None):
    cmd = (['ip', 'netns', 'exec', ns] if ns else []) + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check_rc and p.returncode != 0:
        raise RuntimeError(f'{cmd}: {p.stderr.strip()}')
    return p


class Testbed:
    """client ns --veth-- server ns --veth-- wan ns. The wan side has no route back to the client
    pools, so an answered ping from a client proves forwarding and masquerading."""

    def __init__(self):
        tag = str(os.getpid())
        self.srv, self.cli, self.wan = 'fxsrv' + tag, 'fxcli' + tag, 'fxwan' + tag
        self.vs, self.vc = 'fxs' + tag[-8:], 'fxc' + tag[-8:]
        self.ve, self.vw = 'fxe' + tag[-8:], 'fxw' + tag[-8:]

    def up(self):
        for ns in (self.srv, self.cli, self.wan):
            sh('ip', 'netns', 'add', ns)
            sh('ip', 'link', 'set', 'lo', 'up', ns=ns)
        sh('ip', 'link', 'add', self.vs, 'netns', self.srv, 'type', 'veth', 'peer', 'name', self.vc, 'netns', self.cli)
        sh('ip', 'link', 'add', self.ve, 'netns', self.srv, 'type', 'veth', 'peer', 'name', self.vw, 'netns', self.wan)
        for ns, dev, addrs in ((self.srv, self.vs, [SERVER_IP + '/24', SERVER_IP6 + '/64']),
                               (self.cli, self.vc, [CLIENT_IP + '/24', CLIENT_IP6 + '/64']),
                               (self.srv, self.ve, [WAN_SERVER + '/24', WAN_SERVER6 + '/64']),
                               (self.wan, self.vw, [WAN_HOST + '/24', WAN_HOST6 + '/64'])):
            for a in addrs:
                sh('ip', 'addr', 'add', a, 'dev', dev, 'nodad', ns=ns) if ':' in a else \
                    sh('ip', 'addr', 'add', a, 'dev', dev, ns=ns)
            sh('ip', 'link', 'set', dev, 'up', ns=ns)

    def down(self):
        for ns in (self.srv, self.cli, self.wan):
            subprocess.run(['ip', 'netns', 'del', ns], capture_output=True)


def start_daemon(exe, tmp, ns, config):
    d = bt.Daemon.__new__(bt.Daemon)
    # Reuse bt.Daemon's bus and notify plumbing, but run the daemon with "ip netns exec".
    d.tmp = tmp
    d.dirs = {k: os.path.join(tmp, k) for k in ('etc', 'state', 'run', 'bus')}
    for x in d.dirs.values():
        os.makedirs(x, exist_ok=True)
    with open(os.path.join(d.dirs['etc'], 'server.conf'), 'w') as f:
        f.write('[Server]\n' + config)
    out = subprocess.run([bt.LAUNCH, d.dirs['bus']], check=True, capture_output=True, text=True).stdout
    env = dict(l.replace('export ', '', 1).split('=', 1) for l in out.splitlines() if '=' in l)
    d.address, d.bus_pid = env['DBUS_SYSTEM_BUS_ADDRESS'], int(env['DBUS_TEST_DAEMON_PID'])
    d.notify_path = os.path.join(tmp, 'notify')
    d.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    d.notify.bind(d.notify_path)
    d.messages = []
    bt.start_notify_reader(d)
    d.log = open(os.path.join(tmp, 'daemon.log'), 'a+')
    spawn(d, exe, ns)
    return d


def spawn(d, exe, ns):
    denv = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=d.address, NOTIFY_SOCKET=d.notify_path)
    denv.pop('WATCHDOG_USEC', None)
    d.messages.clear()
    d.proc = subprocess.Popen(['ip', 'netns', 'exec', ns, exe, '--config-dir', d.dirs['etc'],
                               '--state-dir', d.dirs['state'], '--runtime-dir', d.dirs['run']],
                              env=denv, stdout=d.log, stderr=subprocess.STDOUT)


class Client:
    def __init__(self, exe, ns, bundle, paths=2, hold=30, extra=(), server=SERVER_IP):
        self.proc = subprocess.Popen(['ip', 'netns', 'exec', ns, exe, '--bundle', bundle, '--server', server,
                                      '--paths', str(paths), '--hold', str(hold)] + list(extra),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.events = {}
        self.buf = b''

    def _lines(self):
        while b'\n' in self.buf:
            line, self.buf = self.buf.split(b'\n', 1)
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            print('client:', line.decode().strip())
            self.events[ev['event']] = ev

    def wait_event(self, name, timeout=20):
        """Reads the client's JSON lines (raw fd, no stdio buffering) until event name arrives."""
        end = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        self._lines()
        while name not in self.events and time.monotonic() < end:
            r, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
            if not r:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self.buf += chunk
            self._lines()
        return self.events.get(name)

    def finish(self, timeout=15):
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.wait_event('closed', 1)
        err = self.proc.stderr.read().decode()
        if err.strip():
            print('client stderr:', err.strip())
        return self.proc.returncode


def issue_bundle(d, name, path):
    rc, out, err = d.call(PKI, PKI_IF, 'IssueCertificate', 'su', name, '10')
    if rc != 0:
        raise RuntimeError('IssueCertificate: ' + err)
    with open(path, 'w') as f:
        f.write(out['data'][0])
    os.chmod(path, 0o600)


def session_checks(d, client, update):
    ready = client.events['ready']
    sid = ready['session_id']
    rc, out, _ = d.call(ROOT, MGR_IF, 'ListSessions')
    sessions = out['data'][0] if rc == 0 else []
    check(len(sessions) == 1 and sessions[0][0] == sid and sessions[0][1] == 'laptop', 'ListSessions shows the session')
    if not sessions:
        return None
    spath = sessions[0][2]
    check(d.get(ROOT, MGR_IF, 'SessionCount') == 1, 'SessionCount 1')
    check(d.get(spath, SESSION_IF, 'ClientName') == 'laptop', 'Session.ClientName is the certificate CN')
    check(d.get(spath, SESSION_IF, 'Id') == sid, 'Session.Id')
    check(d.get(spath, SESSION_IF, 'Addresses') == ['10.8.0.2/24', 'fd00:8::2/64'], 'Session.Addresses from the pool')
    check(d.get(spath, SESSION_IF, 'State') == 'active', 'Session.State active')
    check(d.get(spath, SESSION_IF, 'Protocol') == 2, 'Session.Protocol 2')
    check(abs(d.get(spath, SESSION_IF, 'CreatedUSec') / 1e6 - time.time()) < 120, 'Session.CreatedUSec is realtime')
    conns = d.get(spath, SESSION_IF, 'Connections') or []
    check(len(conns) == 2, f'two Connection objects ({len(conns)})')
    for c in conns:
        remote = d.get(c, CONN_IF, 'RemoteAddress') or ''
        check(remote.startswith(CLIENT_IP + ':'), f'{c} RemoteAddress {remote}')
        check(d.get(c, CONN_IF, 'LocalAddress') == SERVER_IP + ':8000', f'{c} LocalAddress from IP_PKTINFO')
        check(d.get(c, CONN_IF, 'State') == 'up', f'{c} State up')
        check((d.get(c, CONN_IF, 'RTTUSec') or 0) > 0, f'{c} RTTUSec measured')
        check((d.get(c, CONN_IF, 'RxBytes') or 0) > 0, f'{c} RxBytes')
        check(d.get(c, CONN_IF, 'Interface') == '', f'{c} Interface empty on the server')
        check(d.get(c, CONN_IF, 'Priority') == 'primary', f'{c} Priority')
    stats = {p: d.get(spath, SESSION_IF, p) for p in
             ('RxPackets', 'TxPackets', 'RxBytes', 'ReplayDrops', 'AuthFailures', 'SpoofedDrops')}
    print('session counters:', stats)
    check(stats['RxPackets'] >= 6 and stats['TxPackets'] >= 6, 'echo traffic counted both ways')
    check(stats['ReplayDrops'] >= 5, f'replayed datagrams rejected ({stats["ReplayDrops"]})')
    check(stats['AuthFailures'] >= 1, 'forged datagram rejected (AuthFailures)')
    check(stats['SpoofedDrops'] >= 1, 'spoofed inner source dropped')
    check(d.get(ROOT, MGR_IF, 'UnknownSessionDrops') >= 1, 'datagram for an unknown session ignored and counted')
    check(d.get(ROOT, MGR_IF, 'MalformedDrops') >= 1, 'runt datagram counted')
    check(d.get(ROOT, MGR_IF, 'RxBytes') > 0, 'Manager.RxBytes')
    d.read_notify(0.3)
    check(any(m == 'STATUS=1 session, 2 paths up' for m in d.messages), 'STATUS=1 session, 2 paths up')
    bt.compare_xml(d, spath, SESSION_IF, update)
    if conns:
        bt.compare_xml(d, conns[0], CONN_IF, update)
    # An unprivileged caller cannot end the session.
    rc, txt = d.send(spath, SESSION_IF + '.Terminate', 'string:x', user='nobody')
    check(rc != 0 and 'AccessDenied' in txt, 'nobody calling Terminate: AccessDenied')
    rc, txt = d.send(spath, SESSION_IF + '.Terminate', 'string:bad\x01reason')
    check(rc != 0 and 'InvalidArgs' in txt, 'Terminate with a control character: InvalidArgs')
    return spath


def signal_checks(text, sid):
    """Signals seen by "busctl monitor" during the first session."""
    sigs = []
    for line in text.splitlines():
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if m.get('type') == 'signal':
            sigs.append(m)

    def find(member, pred=lambda m: True):
        return [m for m in sigs if m.get('member') == member and pred(m)]

    new = find('SessionNew', lambda m: m['payload']['data'][0] == sid)
    check(len(new) == 1 and new[0]['path'] == ROOT, 'signal SessionNew(id, path)')
    gone = find('SessionRemoved', lambda m: m['payload']['data'][0] == sid)
    check(len(gone) == 1 and gone[0]['payload']['data'][2] == 'test over', 'signal SessionRemoved(id, path, reason)')
    added = find('InterfacesAdded')
    check(any(SESSION_IF in m['payload']['data'][1] for m in added) and
          sum(CONN_IF in m['payload']['data'][1] for m in added) == 2,
          'ObjectManager InterfacesAdded for the session and both connections')
    check(any(SESSION_IF in m['payload']['data'][1] for m in find('InterfacesRemoved')),
          'ObjectManager InterfacesRemoved for the session')
    mgr = find('PropertiesChanged', lambda m: m['path'] == ROOT)
    counts = [m['payload']['data'][1].get('SessionCount', {}).get('data') for m in mgr]
    check(1 in counts and 0 in counts, 'PropertiesChanged SessionCount 1 then 0')
    check(len(mgr) <= 4, f'Manager PropertiesChanged batched ({len(mgr)} signals for one session)')
    # A server path exists only once registered: it is announced already up.
    check(all(m['payload']['data'][1][CONN_IF]['State']['data'] == 'up'
              for m in added if CONN_IF in m['payload']['data'][1]), 'InterfacesAdded announces Connection.State up')


BLAST = """
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
end = time.monotonic() + 2
n = 0
while time.monotonic() < end:
    try:
        s.sendto(b'x' * 1200, ('10.8.0.2', 9))
        n += 1
    except BlockingIOError:
        time.sleep(0.0005)
print(n)
"""


def backpressure_checks(d, tb):
    """Downlink faster than the wire (tbf at 4 Mbit/s on the server's veth, with a queue longer
    than the socket buffer, so the queue charges the socket): the data socket's buffer fills, the
    server stops reading the TUN instead of dropping datagrams itself, and the bus stays
    responsive."""
    sh('tc', 'qdisc', 'add', 'dev', tb.vs, 'root', 'tbf', 'rate', '4mbit', 'burst', '16kb', 'latency', '30s',
       ns=tb.srv)
    errors0 = d.get(ROOT, MGR_IF, 'SendErrors')
    full0 = d.get(ROOT, MGR_IF, 'SendQueueFull')
    blast = subprocess.Popen(['ip', 'netns', 'exec', tb.srv, sys.executable, '-c', BLAST],
                             stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    t0 = time.monotonic()
    state = d.get(ROOT, MGR_IF, 'State')
    latency = time.monotonic() - t0
    sent = int(blast.communicate(timeout=30)[0] or 0)
    sh('tc', 'qdisc', 'del', 'dev', tb.vs, 'root', ns=tb.srv)
    errors = d.get(ROOT, MGR_IF, 'SendErrors') - errors0
    full = d.get(ROOT, MGR_IF, 'SendQueueFull') - full0
    print(f'backpressure: {sent} datagrams offered, socket buffer full {full} times, {errors} send errors, '
          f'bus answered in {latency * 1000:.0f} ms')
    check(state == 'running' and latency < 2, 'bus responsive while the downlink is saturated')
    check(full > 0, 'the data socket filled up (backpressure engaged)')
    # While the socket is full only timer traffic (probes, their replies) still wants out; it is
    # dropped and superseded by the next probe. Data waits in the kernel's queues instead.
    check(errors < max(sent // 100, 50), f'only timer datagrams dropped while the socket was full ({errors})')


def run(exe, client_exe, tmp, update):
    tb = Testbed()
    tb.up()
    d = None
    try:
        fwd4 = sh('sysctl', '-n', 'net.ipv4.ip_forward', ns=tb.srv).stdout.strip()
        d = start_daemon(exe, tmp, tb.srv,
                         f'ServerNames={SERVER_IP} {SERVER_IP6}\nEgressInterface={tb.ve}\nResumeTimeoutSec={RESUME_TIMEOUT}\n')
        check(d.wait_notify('READY=1'), 'READY=1')
        table = sh('nft', 'list', 'table', 'inet', 'fluxify', ns=tb.srv, check_rc=False)
        check(table.returncode == 0, 'nft table inet fluxify installed')
        check('masquerade' in table.stdout and tb.ve in table.stdout, 'masquerade toward EgressInterface')
        check(fwd4 == '0' and sh('sysctl', '-n', 'net.ipv4.ip_forward', ns=tb.srv).stdout.strip() == '1' and
              sh('sysctl', '-n', 'net.ipv6.conf.all.forwarding', ns=tb.srv).stdout.strip() == '1',
              'IP forwarding switched on')
        # A second instance (same bus, same namespace, same directories) must give up before it
        # touches anything of the first one.
        denv = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=d.address)
        denv.pop('NOTIFY_SOCKET', None)
        second = subprocess.run(['ip', 'netns', 'exec', tb.srv, exe, '--config-dir', d.dirs['etc'],
                                 '--state-dir', d.dirs['state'], '--runtime-dir', d.dirs['run']],
                                env=denv, capture_output=True, text=True, timeout=30)
        check(second.returncode != 0 and 'Failed to acquire bus name' in second.stdout + second.stderr,
              'a second instance refuses to start (bus name taken)')
        check(sh('nft', 'list', 'table', 'inet', 'fluxify', ns=tb.srv, check_rc=False).returncode == 0 and
              sh('ip', 'link', 'show', 'fluxify0', ns=tb.srv, check_rc=False).returncode == 0 and
              os.path.exists(os.path.join(d.dirs['run'], 'server-kernel.state')),
              "the second instance left the first one's table, TUN and record alone")

        bundle = os.path.join(tmp, 'laptop.bundle')
        issue_bundle(d, 'laptop', bundle)
        monitor_out = open(os.path.join(tmp, 'monitor.json'), 'w+')
        monitor = subprocess.Popen(['busctl', '--address=' + d.address, '--json=short', 'monitor', BUS_NAME],
                                   stdout=monitor_out, stderr=subprocess.DEVNULL)
        time.sleep(0.3)

        # 1. A session: registration, probes, echo, attacks; then Terminate().
        c = Client(client_exe, tb.cli, bundle)
        est = c.wait_event('established')
        check(est is not None and est['protocol'] == 2 and est['address4'] == '10.8.0.2', 'session established (v2)')
        up = c.wait_event('paths_up')
        check(up is not None and all(r > 0 for r in up['rtt_usec']), 'both paths registered, probe RTT measured')
        echo = c.wait_event('echo')
        check(echo is not None and echo['received4'] == echo['sent4'] == 3, 'IPv4 echo through the TUN')
        check(echo is not None and echo['received6'] == echo['sent6'] == 3, 'IPv6 echo through the TUN')
        check(echo is not None and echo['duplicates'] == 0,
              "no scheduler asked: the server's Scheduler= (weighted) sends each reply once")
        att = c.wait_event('attacks')
        check(att is not None and att['unexpected_replies'] == 0, 'no reply to replayed, forged or spoofed packets')
        spath = None
        if c.wait_event('ready'):
            spath = session_checks(d, c, update)
        if spath:
            backpressure_checks(d, tb)
            rc, txt = d.send(spath, SESSION_IF + '.Terminate', 'string:test over')
            check(rc == 0, 'Terminate()')
        rc = c.finish()
        check(rc == 0 and c.events.get('closed', {}).get('error') == 0, 'client heard bye and exited cleanly')
        time.sleep(0.2)
        check(d.get(ROOT, MGR_IF, 'SessionCount') == 0, 'SessionCount 0 after Terminate')

        monitor.terminate()
        monitor.wait()
        monitor_out.seek(0)
        signal_checks(monitor_out.read(), c.events.get('ready', {}).get('session_id'))

        # 1a. Beyond the server: forwarded and masqueraded toward EgressInterface, both families.
        c = Client(client_exe, tb.cli, bundle, paths=1, hold=1,
                   extra=['--target4', WAN_HOST, '--target6', WAN_HOST6])
        echo = c.wait_event('echo')
        check(echo is not None and echo['received4'] == 3, 'IPv4 ping beyond the server (forwarding + NAT)')
        check(echo is not None and echo['received6'] == 3, 'IPv6 ping beyond the server (forwarding + NAT66)')
        check(c.finish() == 0, 'client done')

        # 1a'. Over IPv6 outside: control and both paths to the server's IPv6 address.
        c = Client(client_exe, tb.cli, bundle, paths=2, hold=30, server=SERVER_IP6)
        echo = c.wait_event('echo')
        check(echo is not None and echo['received4'] == 3 and echo['received6'] == 3, 'echo with IPv6 outer transport')
        if c.wait_event('ready'):
            rc, out, _ = d.call(ROOT, MGR_IF, 'ListSessions')
            spath = out['data'][0][0][2] if rc == 0 and out['data'][0] else None
            conns = d.get(spath, SESSION_IF, 'Connections') if spath else []
            check(len(conns) == 2 and all((d.get(x, CONN_IF, 'RemoteAddress') or '').startswith(f'[{CLIENT_IP6}]:') and
                                          d.get(x, CONN_IF, 'LocalAddress') == f'[{SERVER_IP6}]:8000' for x in conns),
                  'IPv6 paths: remote and local (IPV6_PKTINFO) addresses')
            if spath:
                d.send(spath, SESSION_IF + '.Terminate', 'string:v6 done')
        check(c.finish() == 0, 'IPv6 client told bye')

        # 1a''. The client asks for the redundant scheduler in its request: the server uses it
        # toward this client, so every echo reply comes over both paths (the second copy is a
        # duplicate at the client).
        c = Client(client_exe, tb.cli, bundle, paths=2, hold=1, extra=['--scheduler', 'redundant'])
        echo = c.wait_event('echo')
        check(echo is not None and echo['received4'] == 3 and echo['received6'] == 3, 'echo with scheduler redundant')
        check(echo is not None and echo['duplicates'] >= 3,
              f"the session's scheduler follows the request (redundant downlink: {echo and echo['duplicates']} duplicates)")
        check(c.finish() == 0, 'redundant client done')

        # 1b. Control connection lost without a bye: the data plane keeps working, the session
        # waits (detached), and a new connection resumes it with the token.
        c = Client(client_exe, tb.cli, bundle, paths=1, extra=['--resume'])
        det = c.wait_event('detached')
        check(det is not None and det['received4'] == 3 and det['received6'] == 3,
              'data plane kept running while the control connection was lost')
        rc, out, _ = d.call(ROOT, MGR_IF, 'ListSessions')
        spath = out['data'][0][0][2] if rc == 0 and out['data'][0] else None
        check(spath is not None and d.get(spath, SESSION_IF, 'State') == 'detached', 'Session.State detached')
        res = c.wait_event('resumed')
        check(res is not None and res['resumed'] and res['session_id'] == c.events['established']['session_id'],
              'control connection resumed the same session')
        check(c.wait_event('ready') is not None and spath and d.get(spath, SESSION_IF, 'State') == 'active',
              'Session.State active again after the resume')
        if spath:
            d.send(spath, SESSION_IF + '.Terminate', 'string:resume test over')
        check(c.finish() == 0, 'resumed client heard bye')

        # 1c. Control connection lost and never resumed: the session ends after ResumeTimeoutSec.
        c = Client(client_exe, tb.cli, bundle, paths=1, hold=RESUME_TIMEOUT + 4, extra=['--drop-control'])
        check(c.wait_event('ready') is not None, 'control connection dropped')
        t0 = time.monotonic()
        while time.monotonic() - t0 < RESUME_TIMEOUT + 3 and d.get(ROOT, MGR_IF, 'SessionCount') != 0:
            time.sleep(0.2)
        waited = time.monotonic() - t0
        check(d.get(ROOT, MGR_IF, 'SessionCount') == 0 and RESUME_TIMEOUT - 2 < waited < RESUME_TIMEOUT + 2,
              f'session ended {waited:.1f}s after losing its control connection (ResumeTimeoutSec={RESUME_TIMEOUT})')
        d.log.flush()
        d.log.seek(0)
        check('ended: control-lost' in d.log.read(), 'reason control-lost')
        c.proc.terminate()
        c.finish()

        # 2. Same client again (same addresses: lease), then revocation ends it at once.
        c = Client(client_exe, tb.cli, bundle, paths=1)
        est = c.wait_event('established')
        check(est is not None and est['address4'] == '10.8.0.2', 'reconnect keeps the leased address')
        if c.wait_event('ready'):
            t0 = time.monotonic()
            rc, txt = d.send(PKI, PKI_IF + '.RevokeCertificate', 'string:laptop')
            check(rc == 0, 'RevokeCertificate(laptop)')
            c.finish()
            check(time.monotonic() - t0 < 5 and 'closed' in c.events, 'revocation ended the session at once')
        check(d.get(ROOT, MGR_IF, 'SessionCount') == 0, 'no session after revocation')
        c = Client(client_exe, tb.cli, bundle, paths=1, hold=1)
        rc = c.finish(20)
        check(rc != 0 and 'ready' not in c.events, 'a revoked client cannot set up a session')

        # 2b. A version 1 client: refused by default, served once AcceptLegacyClients=yes is
        # reloaded.
        legacy = os.path.join(tmp, 'legacy.bundle')
        issue_bundle(d, 'legacy', legacy)
        c = Client(client_exe, tb.cli, legacy, paths=1, hold=1, extra=['--protocol', '1'])
        rc = c.finish(20)
        check(rc != 0 and 'established' not in c.events, 'version 1 client refused by default')
        with open(os.path.join(d.dirs['etc'], 'server.conf'), 'a') as f:
            f.write('AcceptLegacyClients=yes\n')
        rc, txt = d.send(ROOT, MGR_IF + '.Reload')
        check(rc == 0, 'Reload() with AcceptLegacyClients=yes')
        c = Client(client_exe, tb.cli, legacy, paths=1, hold=1, extra=['--protocol', '1'])
        est = c.wait_event('established')
        # The revoked client's lease was forgotten, so its address is the first free one again.
        check(est is not None and est['protocol'] == 1 and est['address4'] == '10.8.0.2',
              'version 1 session set up (revoked lease reused)')
        echo = c.wait_event('echo')
        check(echo is not None and echo['received4'] == 3, 'version 1 echo through the TUN')
        c.finish()
        rc, out, _ = d.call(ROOT, MGR_IF, 'ListSessions')
        legacy_sessions = [x for x in (out['data'][0] if rc == 0 else []) if x[1] == 'legacy']
        check(len(legacy_sessions) == 1, 'version 1 session listed (it lives until LegacyIdleTimeoutSec)')
        check(all(d.get(x[2], SESSION_IF, 'Protocol') == 1 for x in legacy_sessions), 'Session.Protocol 1')
        for x in legacy_sessions:
            d.send(x[2], SESSION_IF + '.Terminate', 'string:done')
        n = d.get(ROOT, MGR_IF, 'SessionCount')
        check(n == 0, f'version 1 session terminated ({n} left)')

        # 2c. Many clients at once: every one gets its own addresses, paths and echo replies.
        n = 16
        clients = []
        for i in range(n):
            b = os.path.join(tmp, f'many{i}.bundle')
            issue_bundle(d, f'many{i}', b)
            clients.append(Client(client_exe, tb.cli, b, paths=2, hold=20))
        ready = [c.wait_event('ready', 60) for c in clients]
        check(all(r is not None for r in ready), f'{n} concurrent sessions set up')
        check(all(c.events.get('echo', {}).get('received4') == 3 and c.events.get('echo', {}).get('received6') == 3
                  for c in clients), f'{n} concurrent sessions: every echo answered')
        addrs = {c.events['established']['address4'] for c in clients if 'established' in c.events}
        check(len(addrs) == n, f'{n} distinct client addresses')
        check(d.get(ROOT, MGR_IF, 'SessionCount') == n, f'SessionCount {n}')
        with open(f'/proc/{d.proc.pid}/status') as f:
            print('server with', n, 'sessions:', ' '.join(l.split(':')[0] + '=' + l.split()[1] + 'kB'
                                                          for l in f if l.startswith(('VmRSS', 'RssAnon'))))
        time.sleep(0.3)
        check(f'STATUS={n} sessions, {2 * n} paths up' in d.messages, f'STATUS={n} sessions, {2 * n} paths up')
        rc, out, _ = d.call(ROOT, MGR_IF, 'ListSessions')
        for x in (out['data'][0] if rc == 0 else []):
            d.send(x[2], SESSION_IF + '.Terminate', 'string:done')
        check(all(c.finish() == 0 for c in clients), f'{n} clients told bye')
        check(d.get(ROOT, MGR_IF, 'SessionCount') == 0, 'all sessions ended')

        # 2d. Stopping the server says goodbye to its clients.
        b = os.path.join(tmp, 'many0.bundle')
        c = Client(client_exe, tb.cli, b, paths=1, hold=30)
        if c.wait_event('ready'):
            d.proc.send_signal(signal.SIGTERM)
            check(d.proc.wait(timeout=20) == 0, 'SIGTERM with a session: clean exit')
            c.finish()
            closed = c.events.get('closed', {})
            check(closed.get('error') == 0 and closed.get('message') == 'shutdown', f'client heard "shutdown" ({closed})')
        spawn(d, exe, tb.srv)
        check(d.wait_notify('READY=1'), 'restarted')

        # 3. kill -9, restart, clean stop.
        os.kill(d.proc.pid, signal.SIGKILL)
        d.proc.wait()
        check(sh('nft', 'list', 'table', 'inet', 'fluxify', ns=tb.srv, check_rc=False).returncode == 0,
              'after kill -9 the nft table is stale')
        check(os.path.exists(os.path.join(d.dirs['run'], 'server-kernel.state')), 'after kill -9 the record remains')
        spawn(d, exe, tb.srv)
        check(d.wait_notify('READY=1'), 'restart after kill -9: READY=1')
        d.log.flush()
        d.log.seek(0)
        log = d.log.read()
        check('did not stop cleanly' in log and 'Removed stale nft table' in log, 'restart removed the stale state')
        d.proc.send_signal(signal.SIGTERM)
        rc = d.proc.wait(timeout=20)
        check(rc == 0, 'clean stop')
        check(sh('nft', 'list', 'table', 'inet', 'fluxify', ns=tb.srv, check_rc=False).returncode != 0,
              'no nft table after stop')
        check(sh('ip', 'link', 'show', 'fluxify0', ns=tb.srv, check_rc=False).returncode != 0, 'no TUN after stop')
        addrs = sh('ip', '-j', 'addr', ns=tb.srv).stdout
        check('10.8.0.1' not in addrs and 'fd00:8::1' not in addrs, 'no tunnel address after stop')
        check(not os.path.exists(os.path.join(d.dirs['run'], 'server-kernel.state')), 'record removed after stop')
        check(sh('sysctl', '-n', 'net.ipv4.ip_forward', ns=tb.srv).stdout.strip() == fwd4,
              'IP forwarding restored after stop')
    finally:
        if d is not None:
            _, log = d.stop()
            check(not bt.sanitizer_report(log), 'no sanitizer report in the daemon log')
            if bt.failures:
                print(log)
        tb.down()


def main():
    if os.geteuid() != 0:
        print('needs root')
        return 77
    probe = subprocess.run(['ip', 'netns', 'add', 'fxprobe%d' % os.getpid()], capture_output=True)
    if probe.returncode != 0:
        if os.environ.get('FLUXIFY_REQUIRE_NETNS'):
            print('network namespaces unavailable but required')
            return 1
        print('network namespaces unavailable')
        return 77
    subprocess.run(['ip', 'netns', 'del', 'fxprobe%d' % os.getpid()], capture_output=True)
    tmp = tempfile.mkdtemp(prefix='test-server-dataplane-')
    os.chmod(tmp, 0o711)
    try:
        run(os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), tmp, '--update-xml' in sys.argv)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f'{len(bt.failures)} failure(s)')
    return 1 if bt.failures else 0


if __name__ == '__main__':
    sys.exit(main())
