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
sleep 0.3
[ "$(prop Scheduler)" = flow ] && kill -0 "$DAEMON_PID" && pass "broken profile on reload: old settings kept" ||
        fail "broken reload: Scheduler=$(prop Scheduler)"
grep -q "keeping the previous settings" "$TEST_TMP/daemon.log" && pass "broken reload logged" ||
        fail "broken reload not logged: $(cat "$TEST_TMP/daemon.log")"
cp "$TEST_TMP/conf.orig" "$conf"

# The daemon survived all of that, and stops cleanly, leaving no routing journal behind.
kill -0 "$DAEMON_PID" 2>/dev/null && pass "daemon still running" || fail "daemon died: $(cat "$TEST_TMP/daemon.log")"
stop_daemon && pass "clean stop" || fail "stop failed: $(cat "$TEST_TMP/daemon.log")"
[ ! -e "$TEST_TMP/run/client/$TEST_PROFILE.routes" ] && pass "no routing journal left" ||
        fail "routing journal left behind"
[ -z "$(ip -n "$TEST_NS" rule show | grep -v -E '^(0|32766|32767):')" ] && pass "no policy rules left" ||
        fail "rules left: $(ip -n "$TEST_NS" rule show)"

echo "$FAILURES failures"
[ "$FAILURES" -eq 0 ]
