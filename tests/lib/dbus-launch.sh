#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Start a private system-bus dbus-daemon for tests, with the project's policy files (dbus/*.conf).
#
#   dbus-launch.sh [--permissive] DIR
#
# DIR (created if missing, made world-searchable so unprivileged callers can connect) receives
# bus.conf, the socket "bus" and "pid". On stdout, for eval:
#   export DBUS_SYSTEM_BUS_ADDRESS=unix:path=DIR/bus
#   export DBUS_TEST_DAEMON_PID=N
# --permissive adds a mandatory policy allowing every method call to everyone, so that tests can
# check the daemons' own privilege checks (sd-bus refuses unprivileged callers by itself).
# Stop the bus with: kill "$DBUS_TEST_DAEMON_PID".
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
permissive=0
if [ "${1:-}" = "--permissive" ]; then
        permissive=1
        shift
fi
dir="${1:?usage: dbus-launch.sh [--permissive] DIR}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
chmod 0755 "$dir"

extra=""
if [ $permissive = 1 ]; then
        extra='<policy context="mandatory"><allow send_type="method_call"/><allow own="*"/></policy>'
fi

sed -e "s|@LISTEN@|unix:path=$dir/bus|" \
    -e "s|@POLICY_DIR@|$root/dbus|" \
    -e "s|@EXTRA@|$extra|" \
    "$here/dbus-test.conf" > "$dir/bus.conf"

dbus-daemon --config-file="$dir/bus.conf" --fork --nopidfile --print-pid=3 3>"$dir/pid" >/dev/null 2>"$dir/log"
for _ in $(seq 1 100); do
        [ -S "$dir/bus" ] && [ -s "$dir/pid" ] && break
        sleep 0.05
done
if [ ! -S "$dir/bus" ]; then
        echo "dbus-launch.sh: dbus-daemon did not come up" >&2
        exit 1
fi
echo "export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$dir/bus"
echo "export DBUS_TEST_DAEMON_PID=$(tr -d '[:space:]' < "$dir/pid")"
