#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""fluxifyd-server on a private system bus with the project's policy (tests/lib/dbus-launch.sh).

The daemon runs in its own network namespace (unshare -n), so its TUN device and nft table never
touch the host. Checked: READY=1 and STATUS= over NOTIFY_SOCKET, introspection of the live daemon
against dbus/interfaces/*.xml, properties, the PKI methods, InvalidArgs for bad arguments,
Reload() with a broken file (InvalidConfig, old config kept), SIGHUP, AccessDenied for an
unprivileged caller on every mutating method (from the policy file, and from the daemon's own
check under a permissive policy), and a clean SIGTERM.

Usage: test-server-bus.py DAEMON [--update-xml]   (--update-xml rewrites the checked-in XML)
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
LAUNCH = os.path.join(SRC, 'tests', 'lib', 'dbus-launch.sh')
XML_DIR = os.path.join(SRC, 'dbus', 'interfaces')
BUS_NAME = 'org.fluxify.server1'
ROOT = '/org/fluxify/server1'
PKI = '/org/fluxify/server1/pki'
MGR_IF = 'org.fluxify.server1.Manager'
PKI_IF = 'org.fluxify.server1.PKI'
NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']

failures = []


def check(cond, what):
    if cond:
        print(f'ok: {what}')
    else:
        print(f'FAIL: {what}')
        failures.append(what)


def start_notify_reader(d):
    """Drain NOTIFY_SOCKET continuously, as a service manager does: sd_notify() blocks once the
    socket's queue is full (net.unix.max_dgram_qlen is 10 in a fresh network namespace)."""
    d.notify_stop = False
    d.notify.settimeout(0.1)

    def loop():
        while not d.notify_stop:
            try:
                d.messages += d.notify.recv(4096).decode().split('\n')
            except socket.timeout:
                continue
            except OSError:
                break
        d.notify.close()

    t = threading.Thread(target=loop, daemon=True)
    t.start()


class Daemon:
    """A private bus and a fluxifyd-server in a fresh network namespace."""

    def __init__(self, exe, tmp, permissive=False, config='', watchdog_usec=None, as_nobody=False):
        self.tmp = tmp
        self.dirs = {k: os.path.join(tmp, k) for k in ('etc', 'state', 'run', 'bus')}
        for d in self.dirs.values():
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(self.dirs['etc'], 'server.conf'), 'w') as f:
            f.write('[Server]\n' + config)
        args = [LAUNCH] + (['--permissive'] if permissive else []) + [self.dirs['bus']]
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        env = dict(line.replace('export ', '', 1).split('=', 1) for line in out.splitlines() if '=' in line)
        self.address = env['DBUS_SYSTEM_BUS_ADDRESS']
        self.bus_pid = int(env['DBUS_TEST_DAEMON_PID'])

        self.notify_path = os.path.join(tmp, 'notify')
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        os.chmod(self.notify_path, 0o777)  # the daemon may run unprivileged
        self.messages = []
        start_notify_reader(self)

        denv = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address, NOTIFY_SOCKET=self.notify_path)
        denv.pop('WATCHDOG_USEC', None)
        denv.pop('WATCHDOG_PID', None)
        if watchdog_usec:
            denv['WATCHDOG_USEC'] = str(watchdog_usec)
        args = [exe, '--config-dir', self.dirs['etc'], '--state-dir', self.dirs['state'],
                '--runtime-dir', self.dirs['run']]
        if as_nobody:
            # As the unit runs it: an unprivileged user with CAP_NET_ADMIN only. /dev/net/tun is
            # 0600 on this image (no udev): give the private mount namespace a 0666 node, as udev would.
            for k in ('state', 'run'):
                os.chown(self.dirs[k], 65534, 65534)
            devdir = os.path.join(tmp, 'dev')
            os.makedirs(devdir, exist_ok=True)
            script = ('set -e; ip link set lo up; mount -t tmpfs none "$D"; mknod -m 0666 "$D/tun" c 10 200; '
                      'mount --bind "$D/tun" /dev/net/tun; exec setpriv --reuid=65534 --regid=65534 '
                      '--clear-groups --inh-caps=+net_admin --ambient-caps=+net_admin "$@"')
            denv['D'] = devdir
            cmd = ['unshare', '-n', '-m', '--propagation', 'private', 'sh', '-c', script, 'sh'] + args
        else:
            cmd = ['unshare', '-n', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh'] + args
        self.log = open(os.path.join(tmp, 'daemon.log'), 'w+')
        self.proc = subprocess.Popen(cmd, env=denv, stdout=self.log, stderr=subprocess.STDOUT)

    def read_notify(self, timeout):
        """Gives the reader thread a moment to collect what is in flight."""
        time.sleep(timeout)
        return bool(self.messages)

    def wait_notify(self, key, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(m.startswith(key) for m in list(self.messages)):
                return True
            if self.proc.poll() is not None:
                time.sleep(0.2)
                return any(m.startswith(key) for m in list(self.messages))
            time.sleep(0.05)
        return False

    def busctl(self, *args, user=None):
        cmd = (NOBODY if user == 'nobody' else []) + ['busctl', '--address=' + self.address, '--json=short'] + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        try:
            out = json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else None
        except ValueError:
            out = p.stdout
        return p.returncode, out, p.stderr

    def get(self, path, iface, prop):
        rc, out, err = self.busctl('get-property', BUS_NAME, path, iface, prop)
        return out['data'] if rc == 0 else None

    def call(self, path, iface, method, sig='', *args, user=None):
        return self.busctl('call', BUS_NAME, path, iface, method, *([sig] + list(args) if sig else []), user=user)

    def send(self, path, iface_method, *args, user=None):
        """dbus-send, to see error names. Returns (returncode, stdout+stderr)."""
        cmd = (NOBODY if user == 'nobody' else []) + [
            'dbus-send', '--bus=' + self.address, '--print-reply', '--dest=' + BUS_NAME, path, iface_method] + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return p.returncode, p.stdout + p.stderr

    def introspect(self, path):
        p = subprocess.run(['busctl', '--address=' + self.address, 'introspect', '--xml-interface', BUS_NAME, path],
                           capture_output=True, text=True, timeout=30)
        return p.stdout

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.read_notify(0.3)
        try:
            os.kill(self.bus_pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self.notify_stop = True
        self.log.seek(0)
        return self.proc.returncode, self.log.read()


def interface_xml(xml_text, name, pretty=False):
    """The <interface name=...> element of an introspection document, whitespace normalised."""
    root = ET.fromstring(xml_text)
    for i in root.findall('interface'):
        if i.get('name') == name:
            for e in i.iter():
                e.text = None
                e.tail = None
            if pretty:
                ET.indent(i, space='  ')
                return '<node>\n  ' + ET.tostring(i, encoding='unicode') + '\n</node>\n'
            return ET.tostring(i, encoding='unicode')
    return None


def compare_xml(d, path, iface, update):
    live = interface_xml(d.introspect(path), iface)
    check(live is not None, f'{iface} is exported at {path}')
    if live is None:
        return
    f = os.path.join(XML_DIR, iface + '.xml')
    header = ('<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n'
              '"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n'
              '<!-- SPDX-License-Identifier: LGPL-2.1-or-later -->\n'
              '<!-- Taken from the live daemon: tests/bus/test-server-bus.py DAEMON (with update-xml). -->\n')
    if update:
        with open(f, 'w') as out:
            out.write(header + interface_xml(d.introspect(path), iface, pretty=True))
    try:
        with open(f) as inp:
            checked_in = inp.read()
    except FileNotFoundError:
        checked_in = ''
    checked = interface_xml(checked_in, iface) if checked_in else None
    check(checked == live, f'introspection of {iface} equals dbus/interfaces/{iface}.xml')
    if checked != live:
        print(live)


def strict_tests(exe, tmp, update):
    d = Daemon(exe, tmp)
    try:
        check(d.wait_notify('READY=1'), 'READY=1 sent')
        check(any(m.startswith('STATUS=0 sessions, 0 paths up') for m in d.messages), 'STATUS= after start')

        # Properties.
        check(d.get(ROOT, MGR_IF, 'State') == 'running', 'State is running')
        check(d.get(ROOT, MGR_IF, 'Version') == '0.1.0', 'Version')
        check(d.get(ROOT, MGR_IF, 'ControlPort') == 8443, 'ControlPort default')
        check(d.get(ROOT, MGR_IF, 'DataPort') == 8000, 'DataPort default')
        check(d.get(ROOT, MGR_IF, 'TunnelInterface') == 'fluxify0', 'TunnelInterface')
        check(d.get(ROOT, MGR_IF, 'Addresses') == ['10.8.0.1/24', 'fd00:8::1/64'], 'Addresses')
        check(d.get(ROOT, MGR_IF, 'SessionCount') == 0, 'SessionCount 0')
        check(isinstance(d.get(ROOT, MGR_IF, 'RxBytes'), int), 'RxBytes readable')
        fp = d.get(PKI, PKI_IF, 'CAFingerprint')
        check(fp is not None and re.fullmatch('[0-9a-f]{64}', fp), 'CAFingerprint is SHA-256 hex')
        check(d.get(PKI, PKI_IF, 'ServerNames') == ['localhost', '127.0.0.1'], 'ServerNames default')
        check((d.get(PKI, PKI_IF, 'ServerNotAfterUSec') or 0) > time.time() * 1e6, 'ServerNotAfterUSec in the future')
        rc, out, _ = d.call(ROOT, MGR_IF, 'ListSessions')
        check(rc == 0 and out['data'] == [[]], 'ListSessions empty')
        rc, out, _ = d.busctl('call', BUS_NAME, ROOT, 'org.freedesktop.DBus.ObjectManager', 'GetManagedObjects')
        check(rc == 0 and PKI in out['data'][0], 'GetManagedObjects lists the PKI object')

        for iface, path in ((MGR_IF, ROOT), (PKI_IF, PKI)):
            compare_xml(d, path, iface, update)

        # PKI methods.
        rc, out, err = d.call(PKI, PKI_IF, 'IssueCertificate', 'su', 'alice', '30')
        bundle = out['data'][0] if rc == 0 else ''
        check(rc == 0 and bundle.count('-----BEGIN CERTIFICATE-----') == 2 and 'PRIVATE KEY-----' in bundle,
              'IssueCertificate returns CA + client certificate + key')
        check(bundle.index('BEGIN CERTIFICATE') < bundle.rindex('BEGIN CERTIFICATE') < bundle.index('PRIVATE KEY')
              if rc == 0 else False, 'bundle order: CA, client certificate, key')
        check(not any('PRIVATE' in open(os.path.join(r, f)).read()
                      for r, _, fs in os.walk(os.path.join(d.dirs['state'], 'pki', 'issued')) for f in fs),
              'the client key is not kept')
        rc, out, _ = d.call(PKI, PKI_IF, 'ListCertificates')
        certs = out['data'][0] if rc == 0 else []
        check(len(certs) == 1 and certs[0][0] == 'alice' and certs[0][4] is False and
              certs[0][3] - certs[0][2] >= 29 * 86400 * 10**6, 'ListCertificates shows alice, valid, 30 days')
        rc, txt = d.send(PKI, PKI_IF + '.IssueCertificate', 'string:alice', 'uint32:30')
        check(rc != 0 and 'org.fluxify.Error.CertificateExists' in txt, 'second IssueCertificate: CertificateExists')
        rc, txt = d.send(PKI, PKI_IF + '.RevokeCertificate', 'string:alice')
        check(rc == 0, 'RevokeCertificate alice')
        rc, out, _ = d.call(PKI, PKI_IF, 'ListCertificates')
        check(rc == 0 and out['data'][0][0][4] is True, 'alice listed as revoked')
        rc, txt = d.send(PKI, PKI_IF + '.RevokeCertificate', 'string:nobody')
        check(rc != 0 and 'org.fluxify.Error.NoSuchCertificate' in txt, 'RevokeCertificate unknown: NoSuchCertificate')
        crl = open(os.path.join(d.dirs['state'], 'pki', 'crl.pem')).read()
        check('BEGIN X509 CRL' in crl, 'crl.pem written')

        # Bad arguments.
        for args, what in ((['string:bad name!', 'uint32:1'], 'bad name'),
                           (['string:', 'uint32:1'], 'empty name'),
                           (['string:bob', 'uint32:99999'], 'too many days'),
                           (['string:bob'], 'missing argument'),
                           (['uint32:1', 'string:bob'], 'wrong types')):
            rc, txt = d.send(PKI, PKI_IF + '.IssueCertificate', *args)
            check(rc != 0 and 'org.freedesktop.DBus.Error.InvalidArgs' in txt, f'IssueCertificate {what}: InvalidArgs')
        rc, txt = d.send(PKI, PKI_IF + '.RevokeCertificate', 'string:../etc')
        check(rc != 0 and 'InvalidArgs' in txt, 'RevokeCertificate bad name: InvalidArgs')
        rc, txt = d.send(PKI, PKI_IF + '.RegenerateCA', 'boolean:false')
        check(rc != 0 and 'InvalidArgs' in txt and 'confirm' in txt, 'RegenerateCA(false): InvalidArgs')
        rc, txt = d.send(ROOT + '/session/_31', 'org.fluxify.server1.Session.Terminate', 'string:x')
        check(rc != 0 and 'UnknownObject' in txt or 'UnknownMethod' in txt, 'Terminate on a missing session fails')

        # Unprivileged caller: read-only works, every mutating method is refused (policy file).
        check(d.busctl('get-property', BUS_NAME, ROOT, MGR_IF, 'State', user='nobody')[0] == 0,
              'nobody may read properties')
        check(d.call(ROOT, MGR_IF, 'ListSessions', user='nobody')[0] == 0, 'nobody may ListSessions')
        check(d.call(PKI, PKI_IF, 'ListCertificates', user='nobody')[0] == 0, 'nobody may ListCertificates')
        check(d.busctl('introspect', BUS_NAME, ROOT, user='nobody')[0] == 0, 'nobody may introspect')
        check(d.busctl('call', BUS_NAME, ROOT, 'org.freedesktop.DBus.ObjectManager', 'GetManagedObjects',
                       user='nobody')[0] == 0, 'nobody may GetManagedObjects')
        denied_calls(d, 'policy')

        # Reload with a broken file keeps the running configuration.
        conf = os.path.join(d.dirs['etc'], 'server.conf')
        with open(conf, 'w') as f:
            f.write('[Server]\nMTU=1300\nBogus=1\n')
        rc, txt = d.send(ROOT, MGR_IF + '.Reload')
        check(rc != 0 and 'org.fluxify.Error.InvalidConfig' in txt and 'server.conf:3' in txt,
              'Reload of a broken file: InvalidConfig with file:line')
        check(d.get(ROOT, MGR_IF, 'State') == 'running', 'still running after a bad reload')
        mtu = netns_mtu(d)
        check(mtu == 1400, f'old MTU kept after a bad reload ({mtu})')

        # A good file, through SIGHUP: RELOADING=1 … READY=1 and the new MTU.
        with open(conf, 'w') as f:
            f.write('[Server]\nMTU=1300\n')
        d.messages.clear()
        os.kill(daemon_pid(d), signal.SIGHUP)
        check(d.wait_notify('RELOADING=1', 10) and d.wait_notify('READY=1', 10), 'SIGHUP: RELOADING=1 then READY=1')
        time.sleep(0.2)
        check(netns_mtu(d) == 1300, 'SIGHUP applied MTU=1300')
        with open(conf, 'w') as f:
            f.write('[Server]\nMTU=1280\n')
        rc, txt = d.send(ROOT, MGR_IF + '.Reload')
        check(rc == 0 and netns_mtu(d) == 1280, 'Reload() applied MTU=1280')
        with open(conf, 'w') as f:
            f.write('[Server]\nMTU=1280\nControlPort=9443\n')
        rc, txt = d.send(ROOT, MGR_IF + '.Reload')
        check(rc == 0 and d.get(ROOT, MGR_IF, 'ControlPort') == 8443,
              'Reload() keeps the running ControlPort (restart needed)')
        check('restart fluxify-server to apply' in open(os.path.join(d.tmp, 'daemon.log')).read(),
              'Reload() says which keys need a restart')

        # RegenerateCA: new fingerprint, issued certificates gone.
        rc, txt = d.send(PKI, PKI_IF + '.RegenerateCA', 'boolean:true')
        check(rc == 0 and d.get(PKI, PKI_IF, 'CAFingerprint') not in (None, fp), 'RegenerateCA: new CA fingerprint')
        rc, out, _ = d.call(PKI, PKI_IF, 'ListCertificates')
        check(rc == 0 and out['data'] == [[]], 'RegenerateCA: no issued certificates left')
        check(d.proc.poll() is None, 'daemon survived every bad input')
    finally:
        d.messages.clear()
        rc, log = d.stop()
    check(rc == 0, f'SIGTERM: clean exit ({rc})')
    check(any(m.startswith('STOPPING=1') for m in d.messages), 'STOPPING=1 sent')
    check(not sanitizer_report(log), 'no sanitizer report in the daemon log')
    if failures:
        print(log)


def sanitizer_report(log):
    """ASan/UBSan/LSan findings in a log (builds with -Db_sanitize)."""
    return 'runtime error:' in log or 'Sanitizer' in log


def daemon_pid(d):
    """The daemon process (unshare execs sh which execs the daemon: same pid)."""
    return d.proc.pid


def netns_mtu(d):
    p = subprocess.run(['nsenter', '-t', str(daemon_pid(d)), '-n', 'ip', '-j', 'link', 'show', 'fluxify0'],
                       capture_output=True, text=True)
    return json.loads(p.stdout)[0]['mtu'] if p.returncode == 0 else None


MUTATING = [
    (ROOT, MGR_IF + '.Reload', []),
    (PKI, PKI_IF + '.IssueCertificate', ['string:mallory', 'uint32:1']),
    (PKI, PKI_IF + '.RevokeCertificate', ['string:alice']),
    (PKI, PKI_IF + '.RegenerateCA', ['boolean:true']),
]


def denied_calls(d, how):
    fp = d.get(PKI, PKI_IF, 'CAFingerprint')
    for path, method, args in MUTATING:
        rc, txt = d.send(path, method, *args, user='nobody')
        check(rc != 0 and 'org.freedesktop.DBus.Error.AccessDenied' in txt,
              f'nobody calling {method.rsplit(".", 1)[1]}: AccessDenied ({how})')
    check(d.get(PKI, PKI_IF, 'CAFingerprint') == fp, f'nothing changed after the denied calls ({how})')


def permissive_tests(exe, tmp):
    """The policy lets everything through: the daemon's own check must refuse."""
    d = Daemon(exe, tmp, permissive=True, watchdog_usec=400000,
               config='Listen=127.0.0.1 ::1\nControlPort=9443\nDataPort=9000\n')
    try:
        check(d.wait_notify('READY=1'), 'READY=1 (permissive bus)')
        ss = subprocess.run(['nsenter', '-t', str(daemon_pid(d)), '-n', 'ss', '-Hlntu'], capture_output=True,
                            text=True).stdout.split()
        check(sorted(x for x in ss if ':9' in x) == sorted(['127.0.0.1:9000', '[::1]:9000', '127.0.0.1:9443', '[::1]:9443']),
              f'Listen=, ControlPort=, DataPort= honoured ({[x for x in ss if ":9" in x]})')
        check(d.get(ROOT, MGR_IF, 'ControlPort') == 9443 and d.get(ROOT, MGR_IF, 'DataPort') == 9000,
              'ControlPort/DataPort properties follow the configuration')
        check(d.wait_notify('WATCHDOG=1', 3), 'WATCHDOG=1 pings with WATCHDOG_USEC set')
        check(d.call(PKI, PKI_IF, 'ListCertificates', user='nobody')[0] == 0, 'nobody may ListCertificates (permissive)')
        denied_calls(d, 'daemon check')
    finally:
        rc, log = d.stop()
    check(rc == 0, 'clean exit (permissive bus)')


def unprivileged_test(exe, tmp):
    """The daemon as its unit runs it (uid 65534 here, CAP_NET_ADMIN only), on a permissive bus:
    it starts, root and its own uid may change state, any other uid may not."""
    d = Daemon(exe, tmp, permissive=True, as_nobody=True)
    try:
        check(d.wait_notify('READY=1'), 'unprivileged daemon with CAP_NET_ADMIN only: READY=1')
        p = subprocess.run(['ps', '-o', 'user=', '-p', str(d.proc.pid)], capture_output=True, text=True)
        check(p.stdout.strip() == 'nobody', f'daemon runs as nobody ({p.stdout.strip()})')
        check(os.stat(os.path.join(d.dirs['state'], 'pki', 'ca-key.pem')).st_mode & 0o077 == 0, 'CA key is 0600')
        check(d.call(PKI, PKI_IF, 'IssueCertificate', 'su', 'byroot', '1')[0] == 0, 'root may call IssueCertificate')
        rc, txt = d.send(PKI, PKI_IF + '.IssueCertificate', 'string:byself', 'uint32:1', user='nobody')
        check(rc == 0, "the daemon's own uid may call IssueCertificate")
        other = ['setpriv', '--reuid=2', '--regid=2', '--clear-groups']
        p = subprocess.run(other + ['dbus-send', '--bus=' + d.address, '--print-reply', '--dest=' + BUS_NAME, PKI,
                                    PKI_IF + '.IssueCertificate', 'string:byother', 'uint32:1'],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode != 0 and 'AccessDenied' in p.stdout + p.stderr, 'any other uid: AccessDenied (daemon check)')
    finally:
        rc, log = d.stop()
    check(rc == 0, 'unprivileged daemon: clean exit')
    if failures:
        print(log)


def bad_config_test(exe, tmp):
    """A malformed file: refuses to start, says file:line, ERRNO= sent."""
    d = Daemon(exe, tmp, config='ControlPort=0\n')
    try:
        d.proc.wait(timeout=30)
        d.read_notify(0.5)
    finally:
        rc, log = d.stop()
    check(rc != 0, f'malformed config: refuses to start ({rc})')
    check('server.conf:2: ControlPort=0 is not a valid port' in log, 'malformed config: file:line message')
    check(any(m.startswith('ERRNO=') for m in d.messages), 'malformed config: ERRNO= sent')
    check(not any(m.startswith('READY=1') for m in d.messages), 'malformed config: no READY=1')


def bad_state_test(exe, tmp, what, prepare, expected):
    """Damaged state is reported and left alone, never silently replaced."""
    os.makedirs(os.path.join(tmp, 'state'), exist_ok=True)
    damaged = prepare(os.path.join(tmp, 'state'))
    before = open(damaged, 'rb').read()
    d = Daemon(exe, tmp)
    try:
        d.proc.wait(timeout=30)
    finally:
        rc, log = d.stop()
    check(rc != 0 and expected in log, f'{what}: refuses to start and says so')
    check(open(damaged, 'rb').read() == before, f'{what}: left untouched')
    check(not any(m.startswith('READY=1') for m in d.messages), f'{what}: no READY=1')


def half_pki(state):
    os.makedirs(os.path.join(state, 'pki'), mode=0o700)
    path = os.path.join(state, 'pki', 'ca.pem')
    with open(path, 'w') as f:
        f.write('-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n')
    return path


def bad_leases(state):
    path = os.path.join(state, 'leases')
    with open(path, 'w') as f:
        f.write('this is not a lease file\n\x00\x01')
    return path


def main():
    if os.geteuid() != 0:
        print('needs root (network namespaces, setpriv)')
        return 77
    exe = os.path.abspath(sys.argv[1])
    update = '--update-xml' in sys.argv
    tmp = tempfile.mkdtemp(prefix='test-server-bus-')
    os.chmod(tmp, 0o711)
    try:
        strict_tests(exe, os.path.join(tmp, 'strict'), update)
        permissive_tests(exe, os.path.join(tmp, 'permissive'))
        unprivileged_test(exe, os.path.join(tmp, 'unprivileged'))
        bad_config_test(exe, os.path.join(tmp, 'badconf'))
        bad_state_test(exe, os.path.join(tmp, 'badpki'), 'half-written PKI store', half_pki,
                       'incomplete or inconsistent')
        bad_state_test(exe, os.path.join(tmp, 'badleases'), 'corrupt lease file', bad_leases, 'is corrupt')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f'{len(failures)} failure(s)')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
