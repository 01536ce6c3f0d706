#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Proves the testbed and the path emulator do what they claim:
#   - RTT through a 20 ms ± 2 ms path (10 ms ± 1 ms each way) is within bounds;
#   - jitter keeps FIFO order (no reordering) unless reorder=1 is asked for;
#   - the tbf bottleneck holds (iperf3 TCP) and a sender meets loss, not backpressure (UDP);
#   - the emulator carries ~100 Mbit/s with delay;
#   - random loss is roughly the configured rate;
#   - cut/restore blackholes and revives an uplink;
#   - teardown leaves nothing behind: after success, failure and timeout.
set -u
here=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" != --inner ]; then
        # Outer harness: runs the checks in a child and verifies the teardown afterwards.
        [ "$(id -u)" -eq 0 ] || { [ -n "${FLUXIFY_REQUIRE_NETNS:-}" ] && exit 1; echo "SKIP: needs root"; exit 77; }
        fails=0
        # Only this run's names are checked: other test runs may create and remove namespaces
        # at the same time.
        teardown_check() { # label, prefix
                local left
                left=$(ip netns list | awk '{print $1}' | grep "^$2-")
                if [ -n "$left" ] || ls -d /tmp/fluxify-tb."$2".* >/dev/null 2>&1 ||
                        pgrep -f "fluxify-tb.$2" >/dev/null; then
                        echo "FAIL teardown after $1 left: $(echo $left) $(ls -d /tmp/fluxify-tb."$2".* 2>/dev/null)" \
                                "$(pgrep -af "fluxify-tb.$2")"
                        fails=$((fails + 1))
                else
                        echo "ok   teardown after $1 leaves no namespace, process or file"
                fi
        }
        p=fxst$(printf '%04x' $((RANDOM & 0xffff)))
        TB_P=$p bash "$0" --inner
        rc=$?
        [ $rc = 77 ] && exit 77
        [ $rc = 0 ] || fails=$((fails + 1))
        teardown_check "the checks (rc $rc)" "$p"

        # A test that fails half-way, with a process left in a namespace.
        p=fxsf$(printf '%04x' $((RANDOM & 0xffff)))
        mark=$(mktemp)
        TB_P=$p bash -c "source '$here/testbed.sh'; tb_init; tb_up -n 2 --delay 5; \
                tb_spawn sleeper $p-s sleep 60; ip netns exec $p-c sleep 60 & \
                ip netns list | grep -c '^$p-' >$mark; exit 3" 2>/dev/null
        teardown_check "a failure (rc $?)" "$p"
        [ "$(cat "$mark")" = 5 ] || { echo "FAIL the failing child did not build its testbed"; fails=$((fails + 1)); }

        # A test that hangs and hits its deadline.
        p=fxsd$(printf '%04x' $((RANDOM & 0xffff)))
        TB_P=$p bash -c "source '$here/testbed.sh'; tb_init; tb_up -n 1 --delay 5; tb_deadline 2; \
                ip netns list | grep -c '^$p-' >$mark; \
                ip netns exec $p-s sleep 60; echo survived" 2>/dev/null | grep -q survived &&
                { echo "FAIL deadline did not interrupt the test"; fails=$((fails + 1)); }
        teardown_check "a timeout" "$p"
        [ "$(cat "$mark")" = 4 ] || { echo "FAIL the timed-out child did not build its testbed"; fails=$((fails + 1)); }
        rm -f "$mark"
        [ $fails = 0 ] && echo "testbed selftest: all checks passed" && exit 0
        echo "testbed selftest: $fails failure(s)"
        exit 1
fi

# shellcheck source=testbed.sh
source "$here/testbed.sh"
tb_init
tb_deadline 100
TB_FAILURES=0

tb_up -n 3 --src-routing --rate 0,20,100 --delay 10,0,5 --jitter 1,0,0
tb_iperf_server s 5201
J=$TB_RUN/iperf.json

# 1. RTT through uplink 1: 10 ms ± 1 ms each way = 20 ms ± 2 ms round trip.
tb_c ping -c 40 -i 0.02 -I 172.16.1.2 "$TB_SERVER_ADDR" >"$TB_RUN/ping" 2>&1
read -r rmin ravg rp90 rmdev < <("$TB_PY" -c '
import re, statistics, sys
t = sorted(float(x) for x in re.findall(r"time=([0-9.]+) ms", open(sys.argv[1]).read()))
print(t[0], statistics.mean(t), t[int(len(t) * 0.9) - 1], statistics.pstdev(t)) if t else print(0, 0, 99, 0)
' "$TB_RUN/ping")
tb_check "20±2 ms path: ping RTT min (ms)" "${rmin:-0}" '>=' 17.9
tb_check "20±2 ms path: ping RTT avg (ms)" "${ravg:-0}" '>=' 19
tb_check "20±2 ms path: ping RTT avg (ms)" "${ravg:-99}" '<=' 23
# The maximum belongs to the scheduler of a busy 2-core machine; the 90th percentile does not.
tb_check "20±2 ms path: ping RTT 90th percentile (ms)" "${rp90:-99}" '<=' 25
tb_check "20±2 ms path: jitter visible, stddev (ms)" "${rmdev:-0}" '>=' 0.3
tb_check "20±2 ms path: no ping lost" "$(grep -c ' 0% packet loss' "$TB_RUN/ping")" '==' 1

# An unimpaired path adds no delay (queue rule only where needed).
tb_c ping -q -c 10 -i 0.02 -I 172.16.2.2 "$TB_SERVER_ADDR" >"$TB_RUN/ping2" 2>&1
ravg2=$(sed -nE 's|.*= [0-9.]+/([0-9.]+)/.*|\1|p' "$TB_RUN/ping2")
tb_check "plain path: ping RTT avg (ms)" "${ravg2:-99}" '<' 2

# 2. FIFO under jitter: 5 ms jitter at ~1.2 kpps must not reorder; reorder=1 must (s2c, so the
#    iperf3 client is the receiver that counts).
tb_set 1 --jitter 5
tb_iperf c "$J" -c "$TB_SERVER_ADDR" -B 172.16.1.2 -u -b 10M -l 1000 -t 2 -R
tb_check "jitter 5 ms, FIFO: out-of-order datagrams" "$(tb_jq "$J" 'd["end"]["streams"][0]["udp"]["out_of_order"]')" '==' 0
tb_set 1 --reorder 1
tb_iperf c "$J" -c "$TB_SERVER_ADDR" -B 172.16.1.2 -u -b 10M -l 1000 -t 2 -R
tb_check "jitter 5 ms, reorder=1: out-of-order datagrams" "$(tb_jq "$J" 'd["end"]["streams"][0]["udp"]["out_of_order"]')" '>' 50
tb_set 1 --reorder 0 --jitter 1

# 3. Rate: TCP through the 20 Mbit/s bottleneck, both directions.
tb_iperf c "$J" -c "$TB_SERVER_ADDR" -B 172.16.2.2 -t 3 -O 1
up=$(tb_jq "$J" 'round(d["end"]["sum_received"]["bits_per_second"]/1e6, 2)')
tb_check "20 Mbit/s path: TCP c2s (Mbit/s)" "$up" '>=' 17
tb_check "20 Mbit/s path: TCP c2s (Mbit/s)" "$up" '<=' 20.6
tb_iperf c "$J" -c "$TB_SERVER_ADDR" -B 172.16.2.2 -t 3 -O 1 -R
down=$(tb_jq "$J" 'round(d["end"]["sum_received"]["bits_per_second"]/1e6, 2)')
tb_check "20 Mbit/s path: TCP s2c (Mbit/s)" "$down" '>=' 17
tb_check "20 Mbit/s path: TCP s2c (Mbit/s)" "$down" '<=' 20.6

# A sender that overruns the bottleneck loses packets instead of being throttled locally.
tb_iperf c "$J" -c "$TB_SERVER_ADDR" -B 172.16.2.2 -u -b 40M -l 1400 -t 2
tb_check "20 Mbit/s path: UDP at 40 Mbit/s, loss (%)" "$(tb_jq "$J" 'round(d["end"]["sum"]["lost_percent"], 1)')" '>=' 35

# 4. Emulator throughput: 100 Mbit/s path with 5 ms each way through pathemu.
emu_ticks() { sed -E 's/^.*\) //' "/proc/$(tb_pid pathemu-r3)/stat" | awk '{print $12 + $13}'; }
t0=$(emu_ticks) w0=$(date +%s%N)
tb_iperf c "$J" -c "$TB_SERVER_ADDR" -B 172.16.3.2 -t 3 -O 1
t1=$(emu_ticks) w1=$(date +%s%N)
fast=$(tb_jq "$J" 'round(d["end"]["sum_received"]["bits_per_second"]/1e6, 2)')
tb_check "100 Mbit/s + 10 ms RTT via pathemu: TCP (Mbit/s)" "$fast" '>=' 85
echo "     pathemu CPU at ~$fast Mbit/s: $(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v w=$((w1 - w0)) \
        'BEGIN {printf "%.1f %% of one core", t / hz / (w / 1e9) * 100}')"
tb_c ping -q -c 10 -i 0.05 -I 172.16.3.2 "$TB_SERVER_ADDR" >"$TB_RUN/ping3" 2>&1
tb_check "100 Mbit/s path: RTT avg (ms)" "$(sed -nE 's|.*= [0-9.]+/([0-9.]+)/.*|\1|p' "$TB_RUN/ping3")" '>=' 9.5

# 5. Loss: 5 % on c2s only, UDP below the bottleneck rate.
tb_set 3 --dir c2s --loss 5
tb_iperf c "$J" -c "$TB_SERVER_ADDR" -B 172.16.3.2 -u -b 20M -l 1200 -t 2
lost=$(tb_jq "$J" 'round(d["end"]["sum"]["lost_percent"], 2)')
tb_check "5 % loss c2s: UDP loss (%)" "$lost" '>=' 3.5
tb_check "5 % loss c2s: UDP loss (%)" "$lost" '<=' 6.5
tb_iperf c "$J" -c "$TB_SERVER_ADDR" -B 172.16.3.2 -u -b 20M -l 1200 -t 2 -R
tb_check "5 % loss c2s only: s2c UDP loss (%)" "$(tb_jq "$J" 'round(d["end"]["sum"]["lost_percent"], 2)')" '<' 0.5
tb_emu_stats 3 | sed 's/^/     /'
tb_set 3 --loss 0

# Impairments back to zero: the emulator and its queue rules go, the path is plain again.
tb_set 1 --delay 0 --jitter 0
tb_check "zero impairment: emulator stopped" "$(tb_alive pathemu-r1 && echo 1 || echo 0)" == 0
tb_check "zero impairment: ping RTT avg (ms)" "$(tb_c ping -q -c 5 -i 0.05 -I 172.16.1.2 "$TB_SERVER_ADDR" | sed -nE 's|.*= [0-9.]+/([0-9.]+)/.*|\1|p')" '<' 2

# 6. Cut and restore.
tb_cut 2
tb_c ping -q -c 3 -i 0.1 -W 0.5 -I 172.16.2.2 "$TB_SERVER_ADDR" >"$TB_RUN/ping4" 2>&1
tb_check "cut uplink 2: pings answered" "$(sed -nE 's/.* ([0-9]+) received.*/\1/p' "$TB_RUN/ping4")" '==' 0
tb_restore 2
tb_wait_for 3 tb_c ping -c 1 -W 0.5 -I 172.16.2.2 "$TB_SERVER_ADDR"
tb_c ping -q -c 3 -i 0.1 -W 1 -I 172.16.2.2 "$TB_SERVER_ADDR" >"$TB_RUN/ping4" 2>&1
tb_check "restored uplink 2: pings answered" "$(sed -nE 's/.* ([0-9]+) received.*/\1/p' "$TB_RUN/ping4")" '==' 3

# 7. The internet host is reachable from the server but not from the client (NAT needed).
tb_check "server reaches internet host" "$(tb_s ping -c 1 -W 1 "$TB_INET_ADDR" >/dev/null && echo 1 || echo 0)" '==' 1
tb_check "server reaches internet host (v6)" "$(tb_s ping -6 -c 1 -W 1 "$TB_INET_ADDR6" >/dev/null && echo 1 || echo 0)" '==' 1
tb_check "client cannot reach internet host without a tunnel" "$(tb_c ping -c 1 -W 1 "$TB_INET_ADDR" >/dev/null 2>&1 && echo 1 || echo 0)" '==' 0

[ "$TB_FAILURES" = 0 ] || exit 1
exit 0
