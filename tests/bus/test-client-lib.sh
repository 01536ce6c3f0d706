# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared set-up for the client's bus and CLI tests (sourced): a private dbus-daemon with the
# project's policy (tests/lib/dbus-launch.sh), a network namespace of our own with one veth uplink, and fluxifyd-client for
# one profile inside it. Everything is removed on exit. Needs: FLUXIFY_SOURCE_DIR, FLUXIFYD_CLIENT.

set -u

skip_or_fail() {
        echo "SKIP: $*" >&2
        [ -n "${FLUXIFY_REQUIRE_NETNS:-}" ] && exit 1
        exit 77
}

[ "$(id -u)" -eq 0 ] || skip_or_fail "needs root (network namespaces, bus policy for root)"
command -v dbus-daemon >/dev/null || skip_or_fail "dbus-daemon not installed"
command -v ip >/dev/null || skip_or_fail "iproute2 not installed"

TEST_TMP=$(mktemp -d /tmp/fluxify-client-test.XXXXXX)
chmod 0755 "$TEST_TMP"   # the unprivileged checks must reach the bus socket
TEST_NS="fxc-$$-$RANDOM"
TEST_PROFILE=${TEST_PROFILE:-bustest}
TEST_IFACE=fxup0
TEST_SERVER=10.213.0.1:9
DAEMON_PID=
BUS_PID=

cleanup() {
        local rc=$? f
        [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
        [ -n "$BUS_PID" ] && kill "$BUS_PID" 2>/dev/null
        ip netns del "$TEST_NS" 2>/dev/null
        # Sanitizer builds: a report in a daemon's log fails the test even if every check passed.
        for f in "$TEST_TMP"/daemon*.log; do
                if [ -f "$f" ] && grep -q -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$f"; then
                        echo "FAIL: sanitizer report in $(basename "$f"):" >&2
                        cat "$f" >&2
                        rc=1
                fi
        done
        rm -rf "$TEST_TMP"
        exit $rc
}
trap cleanup EXIT

ip netns add "$TEST_NS" 2>/dev/null || skip_or_fail "cannot create network namespaces"
ip -n "$TEST_NS" link set lo up
ip -n "$TEST_NS" link add "$TEST_IFACE" type veth peer name fxpeer0
ip -n "$TEST_NS" addr add 10.213.0.2/24 dev "$TEST_IFACE"
ip -n "$TEST_NS" addr add 10.213.0.1/24 dev fxpeer0
ip -n "$TEST_NS" link set "$TEST_IFACE" up
ip -n "$TEST_NS" link set fxpeer0 up

# The project's test bus (tests/lib/dbus-launch.sh): stock system-bus defaults plus dbus/*.conf.
launch=$("$FLUXIFY_SOURCE_DIR/tests/lib/dbus-launch.sh" "$TEST_TMP/bus") || {
        echo "FAIL: tests/lib/dbus-launch.sh failed" >&2
        exit 1
}
eval "$launch"
BUS_PID=$DBUS_TEST_DAEMON_PID
export DBUS_SYSTEM_BUS_ADDRESS

mkdir -p "$TEST_TMP/etc/client" "$TEST_TMP/lib" "$TEST_TMP/run"
cat >"$TEST_TMP/etc/client/$TEST_PROFILE.conf" <<EOC
# Test profile: the server address refuses connections (nothing listens on port 9).
[Client]
Server=$TEST_SERVER
Interfaces=$TEST_IFACE
Bundle=$TEST_PROFILE.bundle
DefaultRoute=no

[Interface $TEST_IFACE]
Weight=2
EOC

# A real bundle (CA, client certificate, key) made with certtool, so Connect gets as far as the
# control connection.
make_bundle() {
        local d="$TEST_TMP/pki"
        mkdir -p "$d"
        printf 'cn = "Test CA"\nca\ncert_signing_key\nexpiration_days = 2\n' >"$d/ca.tmpl"
        printf 'cn = "%s"\ntls_www_client\nexpiration_days = 2\n' "$TEST_PROFILE" >"$d/cl.tmpl"
        certtool --generate-privkey --key-type ecdsa --outfile "$d/ca-key.pem" 2>/dev/null &&
        certtool --generate-self-signed --load-privkey "$d/ca-key.pem" --template "$d/ca.tmpl" \
                --outfile "$d/ca.pem" 2>/dev/null &&
        certtool --generate-privkey --key-type ecdsa --outfile "$d/cl-key.pem" 2>/dev/null &&
        certtool --generate-certificate --load-privkey "$d/cl-key.pem" --load-ca-certificate "$d/ca.pem" \
                --load-ca-privkey "$d/ca-key.pem" --template "$d/cl.tmpl" --outfile "$d/cl.pem" 2>/dev/null &&
        cat "$d/ca.pem" "$d/cl.pem" "$d/cl-key.pem" >"$TEST_TMP/etc/client/$TEST_PROFILE.bundle"
}
command -v certtool >/dev/null || skip_or_fail "certtool (gnutls-bin) not installed"
make_bundle || { echo "FAIL: could not make a test bundle" >&2; exit 1; }

start_daemon() {
        ip netns exec "$TEST_NS" "$FLUXIFYD_CLIENT" --profile "$TEST_PROFILE" --config-dir "$TEST_TMP/etc" \
                --state-dir "$TEST_TMP/lib" --runtime-dir "$TEST_TMP/run" >"$TEST_TMP/daemon.log" 2>&1 &
        DAEMON_PID=$!
        for _ in $(seq 100); do
                busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" status "org.fluxify.client1.$TEST_PROFILE" \
                        >/dev/null 2>&1 && return 0
                kill -0 "$DAEMON_PID" 2>/dev/null || break
                sleep 0.05
        done
        echo "FAIL: fluxifyd-client did not come up:" >&2
        cat "$TEST_TMP/daemon.log" >&2
        exit 1
}

stop_daemon() {
        kill "$DAEMON_PID" && wait "$DAEMON_PID"
        local rc=$?
        DAEMON_PID=
        return $rc
}

FAILURES=0
fail() {
        echo "FAIL: $*" >&2
        FAILURES=$((FAILURES + 1))
}
pass() {
        echo "ok: $*"
}
