#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# fluxifyctl against a running fluxifyd-client: every client verb, output shape, --json, exit
# codes and the errors users meet. Env: FLUXIFY_SOURCE_DIR, FLUXIFYD_CLIENT, FLUXIFYCTL.
. "$(dirname "$0")/test-client-lib.sh"

CTL=$FLUXIFYCTL
NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"

# expect RC DESCRIPTION -- COMMAND...: runs it, keeps stdout in $OUT and stderr in $ERR.
expect() {
        local want=$1 what=$2
        shift 3
        OUT=$("$@" 2>"$TEST_TMP/stderr")
        RC=$?
        ERR=$(cat "$TEST_TMP/stderr")
        if [ "$RC" -eq "$want" ]; then pass "$what (exit $RC)"; else fail "$what: exit $RC, wanted $want; stderr: $ERR"; fi
}
contains() { # HAYSTACK NEEDLE DESCRIPTION
        if grep -q -F -- "$2" <<<"$1"; then pass "$3"; else fail "$3: '$2' not in: $1"; fi
}
json_ok() { # TEXT DESCRIPTION
        if python3 -m json.tool <<<"$1" >/dev/null 2>&1; then pass "$2"; else fail "$2: not JSON: $1"; fi
}
json_eval() { # TEXT PYTHON-EXPRESSION-ON-j DESCRIPTION
        if python3 -c "import json,sys; j=json.load(sys.stdin); sys.exit(0 if ($2) else 1)" <<<"$1"; then
                pass "$3"; else fail "$3: $2 is false for: $1"; fi
}

# No bus at all.
expect 1 "no bus" -- env DBUS_SYSTEM_BUS_ADDRESS=unix:path=$TEST_TMP/none "$CTL" status
contains "$ERR" "Failed to connect to the system bus" "no bus: says so"

# Bus, but no daemon.
expect 1 "status without daemons" -- "$CTL" status
contains "$ERR" "Neither fluxifyd-server nor any fluxifyd-client instance is running" "status: nothing running"
expect 1 "paths without a client" -- "$CTL" paths
contains "$ERR" "No fluxifyd-client instance is running" "paths: no client"
contains "$ERR" "systemctl start fluxify-client@" "paths: says how to start one"
expect 1 "sessions without a server" -- "$CTL" sessions
contains "$ERR" "fluxifyd-server is not running on the system bus" "sessions: no server"
expect 1 "pki list without a server" -- "$CTL" pki list
contains "$ERR" "fluxifyd-server is not running" "pki: no server"
expect 1 "terminate without a server" -- "$CTL" terminate 7

# Usage errors: exit 2, before touching the bus.
expect 2 "unknown verb" -- "$CTL" frobnicate
expect 2 "unknown option" -- "$CTL" --frob status
expect 2 "invalid profile name" -- "$CTL" --profile 9x status
contains "$ERR" "Invalid profile name" "invalid profile: explained"
expect 2 "bad --mode" -- "$CTL" connect --mode turbo
expect 2 "bad --scheduler" -- "$CTL" connect --scheduler fastest
expect 2 "bad --ifaces" -- "$CTL" connect --ifaces a,,b
expect 2 "option for another verb" -- "$CTL" paths --days 3
expect 2 "missing argument" -- "$CTL" add-iface
expect 2 "too many arguments" -- "$CTL" paths extra
expect 2 "terminate needs a number" -- "$CTL" terminate abc
expect 2 "pki issue needs --output" -- "$CTL" pki issue laptop
expect 2 "regenerate-ca needs --yes" -- "$CTL" pki regenerate-ca
contains "$ERR" "--yes" "regenerate-ca: explains --yes"
expect 2 "unknown pki command" -- "$CTL" pki frob
expect 2 "bad --json" -- "$CTL" status --json=yaml
expect 0 "--help" -- "$CTL" --help
contains "$OUT" "add-iface IFACE" "help lists the verbs"

start_daemon

# Reading.
expect 0 "status (default verb)" -- "$CTL"
contains "$OUT" "$TEST_PROFILE (fluxifyd-client)" "status: names the profile"
contains "$OUT" "State: idle" "status: idle"
contains "$OUT" "Interfaces: $TEST_IFACE" "status: interfaces"
[[ "$OUT" != *$'\e['* ]] && pass "no colour when not on a TTY" || fail "colour codes in piped output"
expect 0 "status --json" -- "$CTL" status --json
json_ok "$OUT" "status --json parses"
json_eval "$OUT" "j['clients'][0]['Manager']['State'] == 'idle' and j['clients'][0]['Session'] is None" "status --json content"
expect 0 "status --json=short" -- "$CTL" --json=short status
[ "$(wc -l <<<"$OUT")" -eq 1 ] && pass "short JSON is one line" || fail "short JSON: $OUT"
expect 0 "paths while idle" -- "$CTL" paths
[ "$OUT" = "0 paths listed." ] && pass "paths: empty legend" || fail "paths idle: '$OUT'"
expect 0 "paths --json while idle" -- "$CTL" paths --json
json_eval "$OUT" "j == []" "paths --json: empty array"
expect 0 "status as nobody" -- $NOBODY "$CTL" status
expect 0 "--profile" -- "$CTL" --profile "$TEST_PROFILE" status
expect 1 "--profile of a profile that is not running" -- "$CTL" --profile nosuch paths
contains "$ERR" "not running for profile 'nosuch'" "unknown profile: explained"
contains "$ERR" "running profiles: $TEST_PROFILE" "unknown profile: lists the running ones"

# Changing, with the errors users meet.
expect 1 "disconnect while idle" -- "$CTL" disconnect
contains "$ERR" "is not connected" "disconnect idle: explained"
expect 1 "connect with an unknown interface" -- "$CTL" connect --ifaces nosuch0
contains "$ERR" "No such interface 'nosuch0'" "unknown interface: named"
expect 0 "connect in load-balance mode" -- "$CTL" connect --no-block --mode load-balance
expect 0 "status in load-balance mode" -- "$CTL" status
contains "$OUT" "Mode: load-balance" "status: load-balance"
expect 0 "disconnect load-balance" -- "$CTL" disconnect
expect 1 "connect as nobody" -- $NOBODY "$CTL" connect --no-block
contains "$ERR" "permission denied" "nobody: permission denied"
contains "$ERR" "sudo" "nobody: says to use sudo"

expect 0 "connect --no-block --save" -- "$CTL" connect --no-block --ifaces "$TEST_IFACE" --scheduler redundant --save
grep -q '^Scheduler=redundant$' "$TEST_TMP/etc/client/$TEST_PROFILE.conf" && pass "--save wrote the profile" ||
        fail "--save: $(cat "$TEST_TMP/etc/client/$TEST_PROFILE.conf")"
grep -q '^Weight=2$' "$TEST_TMP/etc/client/$TEST_PROFILE.conf" && pass "--save kept the other sections" ||
        fail "--save lost lines"
expect 0 "status while connecting" -- "$CTL" status
contains "$OUT" "State: connecting" "status: connecting"
contains "$OUT" "Scheduler: redundant" "status: scheduler from connect"
expect 1 "connect twice" -- "$CTL" connect --no-block
contains "$ERR" "already connected" "connect twice: explained"
expect 0 "paths while connecting" -- "$CTL" paths
contains "$OUT" "INTERFACE" "paths: header"
contains "$OUT" "$TEST_IFACE" "paths: the uplink"
contains "$OUT" "1 path listed." "paths: legend"
expect 0 "paths --no-legend" -- "$CTL" paths --no-legend
[ "$(wc -l <<<"$OUT")" -eq 1 ] && pass "--no-legend: one row only" || fail "--no-legend: '$OUT'"
expect 0 "paths --json" -- "$CTL" paths --json
json_eval "$OUT" "len(j) == 1 and j[0]['Interface'] == '$TEST_IFACE' and j[0]['Weight'] == 2.0 and j[0]['Priority'] == 'primary'" "paths --json: the uplink"
expect 0 "add-iface" -- "$CTL" add-iface lo
expect 0 "paths after add-iface" -- "$CTL" paths
contains "$OUT" "2 paths listed." "add-iface: two paths"
expect 1 "add-iface twice" -- "$CTL" add-iface lo
expect 1 "add-iface unknown" -- "$CTL" add-iface nosuch0
contains "$ERR" "No such interface 'nosuch0'" "add-iface unknown: named"
expect 0 "remove-iface" -- "$CTL" remove-iface lo
expect 1 "remove-iface not an uplink" -- "$CTL" remove-iface lo
expect 1 "remove-iface the last uplink" -- "$CTL" remove-iface "$TEST_IFACE"
contains "$ERR" "last uplink" "remove last: explained"
expect 1 "disconnect as nobody" -- $NOBODY "$CTL" disconnect
expect 0 "disconnect" -- "$CTL" disconnect
expect 0 "status after disconnect" -- "$CTL" status
contains "$OUT" "State: idle" "status: idle again"

# A server name is looked up without blocking the daemon; a name that does not resolve is
# reported in LastError and retried.
expect 0 "connect to a name" -- "$CTL" connect --no-block --server no-such-host.invalid
for _ in $(seq 50); do
        OUT=$("$CTL" status 2>&1)
        grep -q "Cannot resolve the server 'no-such-host.invalid'" <<<"$OUT" && break
        sleep 0.1
done
contains "$OUT" "Cannot resolve the server 'no-such-host.invalid'" "unresolvable name: in LastError"
contains "$OUT" "Server: no-such-host.invalid" "status: the server from connect"
expect 0 "disconnect while looking up" -- "$CTL" disconnect

# Two instances: without --profile the CLI must not guess.
TEST_PROFILE2=second
cp "$TEST_TMP/etc/client/$TEST_PROFILE.conf" "$TEST_TMP/etc/client/$TEST_PROFILE2.conf"
ip netns exec "$TEST_NS" "$FLUXIFYD_CLIENT" --profile "$TEST_PROFILE2" --config-dir "$TEST_TMP/etc" \
        --runtime-dir "$TEST_TMP/run" >"$TEST_TMP/daemon2.log" 2>&1 &
PID2=$!
for _ in $(seq 100); do
        busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" status "org.fluxify.client1.$TEST_PROFILE2" >/dev/null 2>&1 && break
        sleep 0.05
done
expect 1 "paths with two instances" -- "$CTL" paths
contains "$ERR" "Several fluxifyd-client instances are running ($TEST_PROFILE, $TEST_PROFILE2)" "two instances: listed"
contains "$ERR" "--profile" "two instances: says --profile"
expect 0 "status shows both" -- "$CTL" status --json
json_eval "$OUT" "len(j['clients']) == 2" "status --json: both instances"
kill "$PID2"; wait "$PID2"

echo "$FAILURES failures"
[ "$FAILURES" -eq 0 ]
