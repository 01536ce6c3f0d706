#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# fluxifyd-client on a private bus: start-up checks, then the API suite (test-client-api).
# Env: FLUXIFY_SOURCE_DIR, FLUXIFYD_CLIENT, FLUX_TEST_API.
. "$(dirname "$0")/test-client-lib.sh"

# Start-up refusals, each with a message that says what is wrong.
out=$("$FLUXIFYD_CLIENT" --profile 9bad --config-dir "$TEST_TMP/etc" 2>&1)
rc=$?
[ $rc -ne 0 ] && grep -q "Invalid profile name '9bad'" <<<"$out" && pass "invalid profile refused" ||
        fail "invalid profile: rc=$rc: $out"

out=$("$FLUXIFYD_CLIENT" --profile nosuch --config-dir "$TEST_TMP/etc" --runtime-dir "$TEST_TMP/run" 2>&1)
rc=$?
[ $rc -ne 0 ] && grep -q "nosuch.conf" <<<"$out" && pass "missing profile refused" ||
        fail "missing profile: rc=$rc: $out"

printf '[Client]\nServer=10.0.0.1\nMode=turbo\n' >"$TEST_TMP/etc/client/broken.conf"
out=$("$FLUXIFYD_CLIENT" --profile broken --config-dir "$TEST_TMP/etc" --runtime-dir "$TEST_TMP/run" 2>&1)
rc=$?
[ $rc -ne 0 ] && grep -q "broken.conf:3" <<<"$out" && pass "bad config line refused with file:line" ||
        fail "broken config: rc=$rc: $out"

out=$("$FLUXIFYD_CLIENT" --profile x --config-dir relative 2>&1)
rc=$?
[ $rc -ne 0 ] && pass "relative directory refused" || fail "relative directory: rc=$rc: $out"

start_daemon

FLUX_TEST_PROFILE=$TEST_PROFILE FLUX_TEST_IFACE=$TEST_IFACE FLUX_TEST_SERVER=$TEST_SERVER "$FLUX_TEST_API" ||
        fail "API suite"

# SIGHUP re-reads the profile; a broken one is refused and the old settings stay.
prop() {
        busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" get-property "org.fluxify.client1.$TEST_PROFILE" \
                /org/fluxify/client1 org.fluxify.client1.Manager "$1" | sed -E 's/^[a-z]+ "?([^"]*)"?$/\1/'
}
conf=$TEST_TMP/etc/client/$TEST_PROFILE.conf
cp "$conf" "$TEST_TMP/conf.orig"
printf '\n[Client]\nScheduler=flow\n' >>"$conf"
kill -HUP "$DAEMON_PID"
for _ in $(seq 50); do [ "$(prop Scheduler)" = flow ] && break; sleep 0.05; done
[ "$(prop Scheduler)" = flow ] && pass "SIGHUP reloads the profile" || fail "reload: Scheduler=$(prop Scheduler)"
printf '[Client]\nScheduler=fastest\n' >"$conf"
kill -HUP "$DAEMON_PID"
# Wait for the daemon to have handled the reload (its log says so) rather than for a fixed time.
for _ in $(seq 100); do grep -q "keeping the previous settings" "$TEST_TMP/daemon.log" && break; sleep 0.05; done
[ "$(prop Scheduler)" = flow ] && kill -0 "$DAEMON_PID" && pass "broken profile on reload: old settings kept" ||
        fail "broken reload: Scheduler=$(prop Scheduler)"
grep -q "keeping the previous settings" "$TEST_TMP/daemon.log" && pass "broken reload logged" ||
        fail "broken reload not logged: $(cat "$TEST_TMP/daemon.log")"
cp "$TEST_TMP/conf.orig" "$conf"

# Defence in depth: on a bus whose policy lets everyone call everything, the daemon itself still
# refuses unprivileged callers (sd-bus privilege check), while reading stays open.
launch=$("$FLUXIFY_SOURCE_DIR/tests/lib/dbus-launch.sh" --permissive "$TEST_TMP/open-bus") ||
        fail "dbus-launch.sh --permissive"
OPEN_BUS=$(sed -nE 's/^export DBUS_SYSTEM_BUS_ADDRESS=(.*)$/\1/p' <<<"$launch")
OPEN_BUS_PID=$(sed -nE 's/^export DBUS_TEST_DAEMON_PID=(.*)$/\1/p' <<<"$launch")
DBUS_SYSTEM_BUS_ADDRESS=$OPEN_BUS ip netns exec "$TEST_NS" "$FLUXIFYD_CLIENT" --profile "$TEST_PROFILE" \
        --config-dir "$TEST_TMP/etc" --runtime-dir "$TEST_TMP/run2" >"$TEST_TMP/daemon-open.log" 2>&1 &
OPEN_DAEMON_PID=$!
for _ in $(seq 100); do
        busctl --address="$OPEN_BUS" status "org.fluxify.client1.$TEST_PROFILE" >/dev/null 2>&1 && break
        sleep 0.05
done
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups busctl --address="$OPEN_BUS" call \
        "org.fluxify.client1.$TEST_PROFILE" /org/fluxify/client1 org.fluxify.client1.Manager Disconnect 2>&1)
grep -q -E "not permitted|Access denied" <<<"$out" && pass "daemon refuses unprivileged callers itself" ||
        fail "open bus, unprivileged Disconnect: $out"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups busctl --address="$OPEN_BUS" get-property \
        "org.fluxify.client1.$TEST_PROFILE" /org/fluxify/client1 org.fluxify.client1.Manager State 2>&1)
[ "$out" = 's "idle"' ] && pass "unprivileged reading on the open bus" || fail "open bus, reading: $out"
out=$(busctl --address="$OPEN_BUS" call "org.fluxify.client1.$TEST_PROFILE" /org/fluxify/client1 \
        org.fluxify.client1.Manager Disconnect 2>&1)
grep -q "is not connected" <<<"$out" && pass "root passes the daemon's check" || fail "open bus, root: $out"
kill "$OPEN_DAEMON_PID"; wait "$OPEN_DAEMON_PID"
kill "$OPEN_BUS_PID"

# The daemon survived all of that, and stops cleanly, leaving no routing journal behind.
kill -0 "$DAEMON_PID" 2>/dev/null && pass "daemon still running" || fail "daemon died: $(cat "$TEST_TMP/daemon.log")"
stop_daemon && pass "clean stop" || fail "stop failed: $(cat "$TEST_TMP/daemon.log")"
[ ! -e "$TEST_TMP/run/client/$TEST_PROFILE.routes" ] && pass "no routing journal left" ||
        fail "routing journal left behind"
[ -z "$(ip -n "$TEST_NS" rule show | grep -v -E '^(0|32766|32767):')" ] && pass "no policy rules left" ||
        fail "rules left: $(ip -n "$TEST_NS" rule show)"

echo "$FAILURES failures"
[ "$FAILURES" -eq 0 ]
