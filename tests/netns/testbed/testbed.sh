# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# Fluxify network-namespace testbed. Sourced by the netns/e2e tests, tools/demo and bench/run.
# See docs/testbed.md for the topology and the full function reference.
#
#   client ns ──up1── router r1 ──┐
#   (fx<id>-c) ──up2── router r2 ──┼── server ns (fx<id>-s) ──wan0── internet ns (fx<id>-i)
#              ──upN── router rN ──┘
#
# Uplink i: client up<i> 172.16.<i>.2/24, gateway (router) 172.16.<i>.1; router ⇄ server
# 172.17.<i>.1 ⇄ 172.17.<i>.2. The server's public address 198.51.100.1 sits on its loopback and
# is reached through every router; its replies leave from that address. The internet host is
# 203.0.113.2 / 2001:db8:ff::2 behind the server's wan0 (203.0.113.1 / 2001:db8:ff::1) and knows no
# route back to the client or the tunnel pool, so reaching it through the tunnel needs NAT.
#
# Each router is the bottleneck of its uplink: tbf on its egress in both directions, and the
# path emulator (pathemu, nfqueue) for delay, jitter, loss and reordering on its forward hook.
# The sender's socket queue is never the bottleneck: the skb is orphaned when it crosses into
# the router namespace, so an overloaded path loses packets as a real one does.
#
# Usage:
#     source tests/netns/testbed/testbed.sh
#     tb_init                         # unique names, run dir, EXIT trap (teardown always runs)
#     tb_up -n 2 --rate 50,50 --delay 5,20 --loss 0,2
#     tb_c ping -c1 198.51.100.1
#     tb_set 2 --loss 0 --delay 10 --jitter 1
#     tb_cut 1 ; tb_restore 1
#
# Everything the testbed creates is named after $TB_P (fx<hex>): namespaces $TB_P-c, $TB_P-s,
# $TB_P-i, $TB_P-r1..rN, run dir /tmp/fluxify-tb.$TB_P. Nothing touches the host's interfaces or
# routes: every link is created directly inside its namespace.

TB_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB_ROOT=${FLUXIFY_SOURCE_DIR:-$(cd "$TB_SRC/../../.." && pwd)}
TB_BUILD=${FLUXIFY_BUILD_DIR:-$TB_ROOT/build}
TB_PY=/usr/bin/python3
[ -x "$TB_PY" ] || TB_PY=python3

TB_SERVER_ADDR=198.51.100.1
TB_INET_ADDR=203.0.113.2
TB_INET_ADDR6=2001:db8:ff::2
TB_N=0
TB_NS_LIST=()
TB_VERBOSE=${TB_VERBOSE:-0}

tb_log() { printf '[testbed %s] %s\n' "$(date +%T.%3N)" "$*" >&2; }
tb_die() { printf '[testbed] FAIL: %s\n' "$*" >&2; exit 1; }
tb_debug() { [ "$TB_VERBOSE" = 1 ] && tb_log "$@"; return 0; }

# Exit code for "facility not available": skip (77), or failure when CI insists.
tb_skip() {
        if [ -n "${FLUXIFY_REQUIRE_NETNS:-}" ]; then
                printf '[testbed] FAIL (FLUXIFY_REQUIRE_NETNS set): %s\n' "$*" >&2
                exit 1
        fi
        printf '[testbed] SKIP: %s\n' "$*" >&2
        exit 77
}

# Finds a build artefact: $1 = env override value, $2.. = candidate names.
tb_find_bin() {
        local override=$1 name
        shift
        if [ -n "$override" ]; then
                [ -x "$override" ] && { echo "$override"; return 0; }
                return 1
        fi
        for name in "$@"; do
                local f
                f=$(find "$TB_BUILD" -name "$name" -type f -perm -u+x -not -path '*/meson-private/*' \
                        -not -name '*.p' 2>/dev/null | head -n1)
                [ -n "$f" ] && { echo "$f"; return 0; }
        done
        return 1
}

tb_ns() { # c | s | i | r<N> | <number>
        case $1 in
        c | s | i) echo "$TB_P-$1" ;;
        r*) echo "$TB_P-$1" ;;
        *) echo "$TB_P-r$1" ;;
        esac
}
tb_c() { ip netns exec "$TB_P-c" "$@"; }
tb_s() { ip netns exec "$TB_P-s" "$@"; }
tb_i() { ip netns exec "$TB_P-i" "$@"; }
tb_r() { local n=$1; shift; ip netns exec "$TB_P-r$n" "$@"; }

# ---------------------------------------------------------------------------------------------
# Setup and teardown

tb_init() {
        [ "$(id -u)" -eq 0 ] || tb_skip "needs root for network namespaces"
        command -v ip >/dev/null || tb_skip "iproute2 missing"
        TB_P=${TB_P:-fx$(printf '%04x%02x' $(($$ & 0xffff)) $((RANDOM & 0xff)))}
        TB_RUN=$(mktemp -d "/tmp/fluxify-tb.$TB_P.XXXX") || tb_die "mktemp"
        mkdir -p "$TB_RUN/pids" "$TB_RUN/logs"
        TB_NETNS_BEFORE=$(ip netns list 2>/dev/null | awk '{print $1}' | sort)
        TB_STATUS=0
        trap 'TB_STATUS=$?; tb_teardown' EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        trap 'exit 129' HUP
        # Can we create a namespace at all?
        if ! ip netns add "$TB_P-c" 2>"$TB_RUN/logs/netns-probe"; then
                tb_skip "cannot create network namespaces: $(cat "$TB_RUN/logs/netns-probe")"
        fi
        TB_NS_LIST+=("$TB_P-c")
        tb_debug "run $TB_P in $TB_RUN"
}

# Arms a deadline: after $1 seconds the test shell and its children get SIGTERM and the EXIT trap
# tears everything down (meson's own timeout also sends SIGTERM, which the same trap handles).
tb_deadline() {
        local secs=$1 me=$$
        (
                sleep "$secs" </dev/null >/dev/null 2>&1 &
                sp=$!
                trap 'kill $sp 2>/dev/null; exit 0' TERM
                wait $sp
                echo "[testbed] deadline of ${secs}s reached, aborting" >&2
                # bash runs its TERM trap only once the foreground command returns: end the
                # shell's children (ours, by pid) first so the teardown can start at once.
                for c in $(pgrep -P "$me"); do
                        [ "$c" != "$BASHPID" ] && kill -TERM "$c" 2>/dev/null
                done
                kill -TERM "$me" 2>/dev/null
        ) >/dev/null &
        tb_pidfile_write "$TB_RUN/pids/deadline" $!
}

tb_teardown() {
        local rc=${TB_STATUS:-$?} f pid ns
        trap - EXIT INT TERM HUP
        # A closed stdout (| head) must not kill the teardown half-way.
        trap '' PIPE
        [ -n "${TB_RUN:-}" ] || return "$rc"
        # Daemons and helpers we started, politely first (by pid, checked against its start time).
        for f in "$TB_RUN"/pids/*; do
                [ -f "$f" ] || continue
                pid=$(tb_pidfile_pid "$f") && kill -TERM "$pid" 2>/dev/null
        done
        for _ in $(seq 30); do
                local alive=0
                for f in "$TB_RUN"/pids/*; do
                        [ -f "$f" ] || continue
                        tb_pidfile_pid "$f" >/dev/null && alive=1
                done
                [ $alive = 0 ] && break
                sleep 0.1
        done
        for f in "$TB_RUN"/pids/*; do
                [ -f "$f" ] || continue
                pid=$(tb_pidfile_pid "$f") && kill -KILL "$pid" 2>/dev/null &&
                        tb_log "killed $(basename "$f") ($pid) with SIGKILL"
        done
        # Anything else still running inside our namespaces was started by this run.
        for ns in "${TB_NS_LIST[@]}"; do
                for pid in $(ip netns pids "$ns" 2>/dev/null); do
                        kill -KILL "$pid" 2>/dev/null
                done
        done
        for ns in "${TB_NS_LIST[@]}"; do
                ip netns del "$ns" 2>/dev/null
        done
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
                tb_dump_logs
        fi
        if [ -n "${TB_KEEP:-}" ]; then
                tb_log "keeping $TB_RUN"
        else
                rm -rf "$TB_RUN"
        fi
        return "$rc"
}

tb_dump_logs() {
        local f
        for f in "$TB_RUN"/logs/*.log; do
                [ -s "$f" ] || continue
                printf '\n----- %s (last 40 lines) -----\n' "$(basename "$f")" >&2
                tail -n 40 "$f" >&2
        done
}

# Background process with its log in $TB_RUN/logs/NAME.log and pid in $TB_RUN/pids/NAME.
# tb_spawn NAME NS|- CMD...
tb_spawn() {
        local name=$1 ns=$2
        shift 2
        local log=$TB_RUN/logs/$name.log
        if [ "${TB_TIMESTAMPS:-0}" = 1 ]; then
                # Prefix every log line with the wall-clock time (daemon logs carry none).
                if [ "$ns" = - ]; then
                        "$@" > >(tb_stamp >>"$log") 2>&1 &
                else
                        ip netns exec "$ns" "$@" > >(tb_stamp >>"$log") 2>&1 &
                fi
        elif [ "$ns" = - ]; then
                "$@" >>"$log" 2>&1 &
        else
                ip netns exec "$ns" "$@" >>"$log" 2>&1 &
        fi
        tb_pidfile_write "$TB_RUN/pids/$name" $!
}

# Pid files hold "PID STARTTIME" (field 22 of /proc/PID/stat), so a pid reused by some other
# process after ours exited is never signalled.
tb_starttime() { sed -E 's/^.*\) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'; }
tb_pidfile_write() { echo "$2 $(tb_starttime "$2")" >"$1"; }
tb_pidfile_pid() { # prints the pid if that very process still runs (zombies do not count)
        local pid st now state
        read -r pid st <"$1" 2>/dev/null || return 1
        [ -n "$pid" ] && [ -n "$st" ] || return 1
        read -r state now < <(sed -E 's/^.*\) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $1, $20}')
        [ "$now" = "$st" ] && [ "$state" != Z ] || return 1
        echo "$pid"
}

tb_stamp() { "$TB_PY" -u -c '
import sys, time
for line in sys.stdin:
    t = time.time()
    sys.stdout.write(time.strftime("%H:%M:%S", time.localtime(t)) + ".%03d " % (t % 1 * 1000) + line)'
}

tb_pid() { local p; read -r p _ <"$TB_RUN/pids/$1" 2>/dev/null && echo "$p"; }
tb_alive() { [ -f "$TB_RUN/pids/$1" ] && tb_pidfile_pid "$TB_RUN/pids/$1" >/dev/null; }

# tb_stop NAME [SIGNAL] [TIMEOUT_S]: signal, wait, then KILL. Returns the exit status if known.
tb_stop() {
        local name=$1 sig=${2:-TERM} timeout=${3:-10} pid i
        [ -f "$TB_RUN/pids/$name" ] || return 0
        if ! pid=$(tb_pidfile_pid "$TB_RUN/pids/$name"); then
                # Already gone: collect its status if it was our child.
                pid=$(tb_pid "$name")
                rm -f "$TB_RUN/pids/$name"
                wait "$pid" 2>/dev/null
                return
        fi
        kill -"$sig" "$pid" 2>/dev/null
        for ((i = 0; i < timeout * 10; i++)); do
                tb_alive "$name" || break
                sleep 0.1
        done
        if tb_alive "$name"; then
                tb_log "$name ($pid) did not stop within ${timeout}s, SIGKILL"
                kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
        local rc=$?
        rm -f "$TB_RUN/pids/$name"
        return $rc
}

tb_add_ns() {
        local ns=$1
        if [ "$ns" != "$TB_P-c" ]; then
                ip netns add "$ns" || tb_die "ip netns add $ns"
                TB_NS_LIST+=("$ns")
        fi
        ip -n "$ns" link set lo up
        ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
                net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 >/dev/null
}

# Splits a comma list, giving element $2 (1-based), or the last element when the list is shorter.
tb_pick() {
        local IFS=, arr
        read -r -a arr <<<"$1"
        local n=${#arr[@]}
        [ "$n" -eq 0 ] && return 0
        local idx=$(($2 - 1))
        [ $idx -ge "$n" ] && idx=$((n - 1))
        echo "${arr[$idx]}"
}

# Rate to bit/s. "50" means 50 Mbit/s; units kbit, mbit, gbit also accepted.
tb_rate_bps() {
        local r=${1,,}
        case $r in
        '' | 0 | none | off) echo 0 ;;
        *gbit) echo $((${r%gbit} * 1000000000)) ;;
        *mbit) echo $((${r%mbit} * 1000000)) ;;
        *kbit) echo $((${r%kbit} * 1000)) ;;
        *[!0-9]*) tb_die "bad rate '$1'" ;;
        *) echo $((r * 1000000)) ;;
        esac
}

# tb_up -n N [--rate R,..] [--delay MS,..] [--jitter MS,..] [--loss PCT,..] [--reorder 0|1,..]
#       [--queue MS] [--mtu M] [--src-routing]
# --src-routing adds "from 172.16.<i>.2 lookup 10<i>" rules in the client so that a program that
# binds an uplink's address (iperf3 -B, OpenVPN local, ping -I ADDR) leaves through that uplink;
# without it the client is a plain multi-homed host and only Fluxify's own routing picks uplinks.
# Per-uplink lists: the last value repeats. Delay and jitter are one-way, in each direction, so
# --delay 10 gives 20 ms of added RTT. Rate 0 = unshaped.
tb_up() {
        local n=1 rates=0 delays=0 jitters=0 losses=0 reorders=0 queue=50 mtu=1500 srcrt=0
        while [ $# -gt 0 ]; do
                case $1 in
                -n) n=$2; shift 2 ;;
                --rate) rates=$2; shift 2 ;;
                --delay) delays=$2; shift 2 ;;
                --jitter) jitters=$2; shift 2 ;;
                --loss) losses=$2; shift 2 ;;
                --reorder) reorders=$2; shift 2 ;;
                --queue) queue=$2; shift 2 ;;
                --mtu) mtu=$2; shift 2 ;;
                --src-routing) srcrt=1; shift ;;
                *) tb_die "tb_up: unknown option $1" ;;
                esac
        done
        [ "$n" -ge 1 ] && [ "$n" -le 9 ] || tb_die "tb_up: 1..9 uplinks"
        TB_N=$n
        TB_QUEUE_MS=$queue
        local C=$TB_P-c S=$TB_P-s I=$TB_P-i
        tb_add_ns "$C"
        tb_add_ns "$S"
        tb_add_ns "$I"
        ip netns exec "$C" sysctl -qw net.ipv4.ip_forward=0 >/dev/null
        # The server forwards only once its shipped sysctl.d snippet is applied (tb_server_start).
        ip netns exec "$S" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0 >/dev/null
        ip -n "$S" addr add "$TB_SERVER_ADDR/32" dev lo

        # Server ⇄ internet host.
        ip -n "$S" link add wan0 mtu "$mtu" type veth peer name eth0 netns "$I"
        ip -n "$S" addr add 203.0.113.1/24 dev wan0
        ip -n "$S" addr add 2001:db8:ff::1/64 dev wan0 nodad
        ip -n "$I" addr add "$TB_INET_ADDR/24" dev eth0
        ip -n "$I" addr add "$TB_INET_ADDR6/64" dev eth0 nodad
        ip -n "$S" link set wan0 up
        ip -n "$I" link set eth0 up
        ip -n "$S" route add default via "$TB_INET_ADDR" dev wan0
        ip -n "$S" -6 route add default via "$TB_INET_ADDR6" dev wan0

        local i R
        for ((i = 1; i <= n; i++)); do
                R=$TB_P-r$i
                tb_add_ns "$R"
                ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1 >/dev/null
                ip -n "$C" link add "up$i" mtu "$mtu" type veth peer name rc netns "$R"
                ip -n "$R" link add rs mtu "$mtu" type veth peer name "r$i" netns "$S"
                ip -n "$C" addr add "172.16.$i.2/24" dev "up$i"
                ip -n "$R" addr add "172.16.$i.1/24" dev rc
                ip -n "$R" addr add "172.17.$i.1/24" dev rs
                ip -n "$S" addr add "172.17.$i.2/24" dev "r$i"
                ip -n "$C" link set "up$i" up
                ip -n "$R" link set rc up
                ip -n "$R" link set rs up
                ip -n "$S" link set "r$i" up
                # A multi-homed client as NetworkManager leaves it: one default route per uplink.
                ip -n "$C" route add default via "172.16.$i.1" dev "up$i" metric $((100 + i))
                if [ $srcrt = 1 ]; then
                        ip -n "$C" route add default via "172.16.$i.1" dev "up$i" table $((100 + i))
                        ip -n "$C" rule add from "172.16.$i.2" lookup $((100 + i)) priority $((1000 + i))
                fi
                ip -n "$R" route add "$TB_SERVER_ADDR/32" via "172.17.$i.2" dev rs
                ip -n "$S" route add "172.16.$i.0/24" via "172.17.$i.1" dev "r$i" src "$TB_SERVER_ADDR"
                mkdir -p "$TB_RUN/r$i"
                echo "delay=0 jitter=0 loss=0 reorder=0" >"$TB_RUN/r$i/c2s"
                echo "delay=0 jitter=0 loss=0 reorder=0" >"$TB_RUN/r$i/s2c"
                tb_set "$i" --rate "$(tb_pick "$rates" "$i")" --delay "$(tb_pick "$delays" "$i")" \
                        --jitter "$(tb_pick "$jitters" "$i")" --loss "$(tb_pick "$losses" "$i")" \
                        --reorder "$(tb_pick "$reorders" "$i")"
        done
        tb_debug "testbed up: $n uplinks (rate $rates, delay $delays, jitter $jitters, loss $losses)"
}

# Rewrites the router's tbf qdiscs. Rate 0 removes shaping.
tb_shape() {
        local i=$1 rate=$2 R=$TB_P-r$1 bps dev
        bps=$(tb_rate_bps "$rate")
        for dev in rc rs; do
                if [ "$bps" -eq 0 ]; then
                        tc -n "$R" qdisc del dev "$dev" root 2>/dev/null
                else
                        # Burst: 2 ms at the rate, at least 10 full-size packets.
                        local burst=$((bps / 8 / 500))
                        [ $burst -lt 15000 ] && burst=15000
                        tc -n "$R" qdisc replace dev "$dev" root tbf rate "$bps"bit burst "$burst" \
                                latency "${TB_QUEUE_MS:-50}ms" || tb_die "tc tbf on $R/$dev"
                fi
        done
        echo "$bps" >"$TB_RUN/r$i/rate"
}

# tb_set I [--rate R] [--delay MS] [--jitter MS] [--loss PCT] [--reorder 0|1] [--dir both|c2s|s2c]
# Options apply in order, so "--dir c2s --loss 2 --dir s2c --loss 0" works. Live: running traffic
# sees the change within one packet.
tb_set() {
        local i=$1 dir=both changed=0
        shift
        [ -d "$TB_RUN/r$i" ] || tb_die "tb_set: no uplink $i"
        while [ $# -gt 0 ]; do
                case $1 in
                --dir) dir=$2 ;;
                --rate) [ -n "$2" ] && tb_shape "$i" "$2" ;;
                --delay | --jitter | --loss | --reorder)
                        local key=${1#--} val=${2:-0} d
                        for d in c2s s2c; do
                                [ "$dir" = both ] || [ "$dir" = "$d" ] || continue
                                sed -i -E "s/(^| )$key=[^ ]*/\1$key=$val/" "$TB_RUN/r$i/$d"
                        done
                        changed=1
                        ;;
                *) tb_die "tb_set: unknown option $1" ;;
                esac
                shift 2
        done
        [ $changed = 1 ] && tb_emu_apply "$i"
        return 0
}

# Starts the path emulator on router I when any impairment is set; reloads it live otherwise.
tb_emu_apply() {
        local i=$1 R=$TB_P-r$1 conf=$TB_RUN/r$1/pathemu.conf
        {
                echo "c2s $(cat "$TB_RUN/r$i/c2s")"
                echo "s2c $(cat "$TB_RUN/r$i/s2c")"
        } >"$conf"
        local ipt
        ipt=$(command -v iptables-legacy || command -v iptables) || tb_die "iptables missing (tools/install-deps)"
        if ! grep -qE '(delay|jitter|loss)=[0-9.]*[1-9]' "$conf"; then
                # Nothing to emulate: back to the fast path (no queue rule, no emulator).
                if tb_alive "pathemu-r$i"; then
                        ip netns exec "$R" "$ipt" -w -F FORWARD
                        tb_stop "pathemu-r$i" TERM 5
                fi
                return 0
        fi
        if tb_alive "pathemu-r$i"; then
                kill -HUP "$(tb_pid "pathemu-r$i")"
                return 0
        fi
        [ -n "${TB_PATHEMU:-}" ] || TB_PATHEMU=$(tb_find_bin "${FLUXIFY_PATHEMU:-}" pathemu) ||
                tb_die "pathemu not built (meson compile -C $TB_BUILD tests/netns/pathemu)"
        tb_spawn "pathemu-r$i" "$R" "$TB_PATHEMU" --queue 0 --config "$conf"
        local k
        for ((k = 0; k < 50; k++)); do
                grep -q 'pathemu: ready' "$TB_RUN/logs/pathemu-r$i.log" 2>/dev/null && break
                tb_alive "pathemu-r$i" || tb_die "pathemu on r$i died: $(cat "$TB_RUN/logs/pathemu-r$i.log")"
                sleep 0.05
        done
        # This kernel has no nft `queue` expression (CONFIG_NFT_QUEUE unset) but has xt NFQUEUE:
        # iptables-legacy feeds the emulator. --queue-bypass: with pathemu gone, packets pass.
        ip netns exec "$R" "$ipt" -w -A FORWARD -i rc -j NFQUEUE --queue-num 0 --queue-bypass &&
                ip netns exec "$R" "$ipt" -w -A FORWARD -i rs -j NFQUEUE --queue-num 1 --queue-bypass ||
                tb_die "NFQUEUE rules on $R"
}

# Blackholes uplink I in both directions at the router (the client's link stays up, as when an
# LTE modem loses its upstream). --link instead takes the client's interface down.
tb_cut() {
        local i=$1 R=$TB_P-r$1
        if [ "${2:-}" = --link ]; then
                ip -n "$TB_P-c" link set "up$i" down
                return
        fi
        ip netns exec "$R" nft -f - <<EOF
table inet fxcut {
        chain forward {
                type filter hook forward priority -10; policy drop;
        }
}
EOF
}

tb_restore() {
        local i=$1
        ip netns exec "$TB_P-r$i" nft delete table inet fxcut 2>/dev/null
        if [ "$(ip -n "$TB_P-c" -br link show "up$i" | awk '{print $2}')" = DOWN ]; then
                ip -n "$TB_P-c" link set "up$i" up
                ip -n "$TB_P-c" route replace default via "172.16.$i.1" dev "up$i" metric $((100 + i))
        fi
}

# Prints the path emulator's counters for uplink I (rx/accepted/dropped per direction).
tb_emu_stats() {
        local i=$1 f=$TB_RUN/logs/pathemu-r$1.log
        tb_alive "pathemu-r$i" || return 1
        local before
        before=$(grep -c 'stats' "$f")
        kill -USR1 "$(tb_pid "pathemu-r$i")"
        for _ in $(seq 20); do
                [ "$(grep -c 'stats' "$f")" -ge $((before + 2)) ] && break
                sleep 0.05
        done
        grep 'stats' "$f" | tail -n 2
}

# Snapshot of everything a daemon may change in a namespace, for before/after comparisons.
tb_snapshot() {
        local ns=$1 out=$2
        {
                echo "## routes v4"
                ip -n "$ns" -4 -j route show table all | tb_json_norm
                echo "## routes v6"
                ip -n "$ns" -6 -j route show table all | tb_json_norm
                echo "## rules v4"
                ip -n "$ns" -4 -j rule show | tb_json_norm
                echo "## rules v6"
                ip -n "$ns" -6 -j rule show | tb_json_norm
                echo "## links"
                ip -n "$ns" -j link show | tb_json_norm
                echo "## addresses"
                ip -n "$ns" -j addr show | tb_json_norm
                echo "## nft"
                ip netns exec "$ns" nft list ruleset
        } >"$out" 2>&1
}

# One JSON object per line, keys sorted, volatile link fields dropped.
tb_json_norm() {
        "$TB_PY" -c '
import json, sys
data = json.load(sys.stdin) or []
for o in data:
    for k in ("operstate", "linkmode", "valid_life_time", "preferred_life_time", "expires", "linkinfo"):
        o.pop(k, None)
    if "addr_info" in o:
        for a in o["addr_info"]:
            for k in ("valid_life_time", "preferred_life_time"):
                a.pop(k, None)
    print(json.dumps(o, sort_keys=True))
' | sort
}

# ---------------------------------------------------------------------------------------------
# D-Bus, notify socket and the daemons

# Private system bus for one side ("s" or "c"): its own socket in the run dir, the project's
# policy files. Exports TB_BUS_<SIDE>.
tb_dbus_start() {
        local side=$1 dir=$TB_RUN/bus-$1
        command -v dbus-daemon >/dev/null || tb_die "dbus-daemon missing (tools/install-deps)"
        if [ -x "$TB_ROOT/tests/lib/dbus-launch.sh" ]; then
                # The project's launcher: stock system-bus defaults + dbus/*.conf as installed.
                local out
                out=$("$TB_ROOT/tests/lib/dbus-launch.sh" "$dir") || tb_die "tests/lib/dbus-launch.sh failed"
                local addr pid
                addr=$(sed -nE 's/^export DBUS_SYSTEM_BUS_ADDRESS=(.*)$/\1/p' <<<"$out")
                pid=$(sed -nE 's/^export DBUS_TEST_DAEMON_PID=(.*)$/\1/p' <<<"$out")
                [ -n "$addr" ] && [ -n "$pid" ] || tb_die "dbus-launch.sh gave no address"
                tb_pidfile_write "$TB_RUN/pids/dbus-$side" "$pid"
                printf -v "TB_BUS_${side^^}" '%s' "$addr"
                export "TB_BUS_${side^^}"
                return 0
        fi
        tb_dbus_start_own "$side"
}

# Fallback when tests/lib/dbus-launch.sh is absent: same defaults, written here.
tb_dbus_start_own() {
        local side=$1 conf=$TB_RUN/dbus-$1.conf sock=$TB_RUN/bus-$1.sock f policies=""
        for f in "$TB_ROOT"/dbus/*.conf; do
                [ -f "$f" ] && policies+="  <include>$f</include>"$'\n'
        done
        if [ -z "$policies" ]; then
                tb_log "no policy files in dbus/ yet: allowing root to own org.fluxify.*"
                policies='  <policy user="root"><allow own_prefix="org.fluxify"/><allow send_destination="*"/></policy>'
        fi
        cat >"$conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Peer"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
  </policy>
$policies
</busconfig>
EOF
        tb_spawn "dbus-$side" - dbus-daemon --nofork --nopidfile --config-file="$conf"
        local k
        for ((k = 0; k < 100; k++)); do
                [ -S "$sock" ] && break
                tb_alive "dbus-$side" || tb_die "dbus-daemon ($side) died: $(cat "$TB_RUN/logs/dbus-$side.log")"
                sleep 0.05
        done
        [ -S "$sock" ] || tb_die "dbus-daemon ($side) socket did not appear"
        printf -v "TB_BUS_${side^^}" 'unix:path=%s' "$sock"
        export "TB_BUS_${side^^}"
}

# sd_notify receiver: logs every datagram with a timestamp to logs/notify-NAME.log.
tb_notify_start() {
        local name=$1 sock=$TB_RUN/notify-$1
        tb_stop "notify-$name" TERM 2 # a previous instance (daemon restarted)
        rm -f "$sock" "$TB_RUN/logs/notify-$name.log"
        tb_spawn "notify-$name" - "$TB_PY" -u "$TB_SRC/notify-listen.py" "$sock"
        local k
        for ((k = 0; k < 100; k++)); do
                [ -S "$sock" ] && return 0
                sleep 0.05
        done
        tb_die "notify listener for $name did not start"
}

# tb_wait_notify NAME PATTERN TIMEOUT_S [PROC]: waits for a notify message; fails early if PROC died.
tb_wait_notify() {
        local name=$1 pat=$2 timeout=${3:-20} proc=${4:-$1} k
        for ((k = 0; k < timeout * 20; k++)); do
                grep -q -- "$pat" "$TB_RUN/logs/notify-$name.log" 2>/dev/null && return 0
                tb_alive "$proc" || { tb_log "$proc exited before $pat"; return 1; }
                sleep 0.05
        done
        tb_log "$name: no $pat within ${timeout}s"
        return 1
}

tb_bins() {
        [ -n "${TB_SERVER_BIN:-}" ] && return 0
        TB_SERVER_BIN=$(tb_find_bin "${FLUXIFY_SERVER_BIN:-}" fluxifyd-server) ||
                tb_skip_or_fail "fluxifyd-server is not built in $TB_BUILD"
        TB_CLIENT_BIN=$(tb_find_bin "${FLUXIFY_CLIENT_BIN:-}" fluxifyd-client) ||
                tb_skip_or_fail "fluxifyd-client is not built in $TB_BUILD"
        TB_CTL_BIN=$(tb_find_bin "${FLUXIFY_CTL_BIN:-}" fluxifyctl) ||
                tb_skip_or_fail "fluxifyctl is not built in $TB_BUILD"
}

# Missing daemons are a build failure, never a pass.
tb_skip_or_fail() { tb_die "$*"; }

# Server config: writes $TB_RUN/server/etc/server.conf. Extra lines in $TB_SERVER_CONF_EXTRA.
tb_server_config() {
        local d=$TB_RUN/server
        mkdir -p "$d/etc" "$d/state" "$d/run"
        chmod 0700 "$d/state"
        cat >"$d/etc/server.conf" <<EOF
[Server]
ControlPort=8443
DataPort=8000
Tunnel=fluxify0
Address=10.8.0.1/24
Address6=fd00:8::1/64
NAT=yes
EgressInterface=wan0
ServerNames=fluxify.test $TB_SERVER_ADDR
${TB_SERVER_CONF_EXTRA:-}
EOF
}

# What systemd-sysctl does at boot with the server's shipped sysctl.d snippet (forwarding). Done
# once; call it before taking a "before" snapshot (IPv6 forwarding adds anycast routes).
tb_server_sysctl() {
        local f
        [ -e "$TB_RUN/server-sysctl-applied" ] && return 0
        for f in "$TB_ROOT"/data/sysctl.d/*server*.conf; do
                [ -f "$f" ] && ip netns exec "$TB_P-s" sysctl -q -p "$f" >/dev/null
        done
        touch "$TB_RUN/server-sysctl-applied"
}

# Starts fluxifyd-server in the server namespace as fluxify-server.service would (Type=notify,
# private system bus, its own config/state/runtime dirs). Waits for READY=1.
tb_server_start() {
        tb_bins
        [ -n "${TB_BUS_S:-}" ] || tb_dbus_start s
        [ -f "$TB_RUN/server/etc/server.conf" ] || tb_server_config
        local d=$TB_RUN/server
        tb_server_sysctl
        tb_notify_start server
        # WatchdogSec=30s in the unit: systemd passes WATCHDOG_USEC, the daemon must ping.
        tb_spawn server "$TB_P-s" env NOTIFY_SOCKET="$TB_RUN/notify-server" WATCHDOG_USEC=30000000 \
                DBUS_SYSTEM_BUS_ADDRESS="$TB_BUS_S" SYSTEMD_LOG_LEVEL="${TB_DAEMON_LOG_LEVEL:-info}" \
                ${TB_SERVER_WRAPPER:-} "$TB_SERVER_BIN" --config-dir "$d/etc" --state-dir "$d/state" \
                --runtime-dir "$d/run"
        tb_wait_notify server READY=1 "${TB_READY_TIMEOUT:-20}" ||
                tb_die "fluxifyd-server did not become ready"
        tb_debug "server ready (pid $(tb_pid server))"
}

tb_server_stop() { tb_stop server TERM "${1:-10}"; }

tb_sctl() { ip netns exec "$TB_P-s" env DBUS_SYSTEM_BUS_ADDRESS="$TB_BUS_S" "$TB_CTL_BIN" "$@"; }
tb_cctl() { ip netns exec "$TB_P-c" env DBUS_SYSTEM_BUS_ADDRESS="$TB_BUS_C" "$TB_CTL_BIN" "$@"; }

# Issues a client certificate bundle through the server's D-Bus API.
tb_issue() {
        local name=$1 out=${2:-$TB_RUN/client/$1.bundle}
        mkdir -p "$(dirname "$out")"
        tb_sctl pki issue "$name" --output "$out" >"$TB_RUN/logs/pki-issue-$name.log" 2>&1 ||
                tb_die "fluxifyctl pki issue $name failed: $(cat "$TB_RUN/logs/pki-issue-$name.log")"
        [ -s "$out" ] || tb_die "bundle $out is empty"
}

# tb_client_config PROFILE IFACES [SCHEDULER]: writes the profile (bundle issued if missing).
tb_client_config() {
        local profile=$1 ifaces=$2 sched=${3:-weighted} d=$TB_RUN/client
        mkdir -p "$d/etc/client" "$d/state" "$d/run"
        [ -s "$d/$profile.bundle" ] || tb_issue "$profile" "$d/$profile.bundle"
        cat >"$d/etc/client/$profile.conf" <<EOF
[Client]
Server=$TB_SERVER_ADDR
Mode=bonding
Interfaces=$ifaces
Scheduler=$sched
Bundle=$d/$profile.bundle
AutoConnect=no
DefaultRoute=yes
${TB_CLIENT_CONF_EXTRA:-}
EOF
        local i
        for i in ${ifaces//,/ }; do
                printf '\n[Interface %s]\nPriority=primary\n' "$i" >>"$d/etc/client/$profile.conf"
        done
}

tb_client_start() {
        local profile=${1:-laptop} d=$TB_RUN/client
        tb_bins
        [ -n "${TB_BUS_C:-}" ] || tb_dbus_start c
        [ -f "$d/etc/client/$profile.conf" ] || tb_die "no client profile $profile (tb_client_config)"
        tb_notify_start "client-$profile"
        tb_spawn "client-$profile" "$TB_P-c" env NOTIFY_SOCKET="$TB_RUN/notify-client-$profile" WATCHDOG_USEC=30000000 \
                DBUS_SYSTEM_BUS_ADDRESS="$TB_BUS_C" SYSTEMD_LOG_LEVEL="${TB_DAEMON_LOG_LEVEL:-info}" \
                ${TB_CLIENT_WRAPPER:-} "$TB_CLIENT_BIN" --profile "$profile" --config-dir "$d/etc" \
                --state-dir "$d/state" --runtime-dir "$d/run"
        tb_wait_notify "client-$profile" READY=1 "${TB_READY_TIMEOUT:-20}" ||
                tb_die "fluxifyd-client ($profile) did not become ready"
}

tb_client_stop() { tb_stop "client-${1:-laptop}" TERM "${2:-10}"; }

# Client manager property via busctl (value only).
tb_client_prop() {
        local profile=$1 prop=$2
        busctl --address="$TB_BUS_C" get-property "org.fluxify.client1.$profile" /org/fluxify/client1 \
                org.fluxify.client1.Manager "$prop" 2>/dev/null | sed -E 's/^[a-z]+ //; s/^"(.*)"$/\1/'
}

tb_server_prop() {
        busctl --address="$TB_BUS_S" get-property org.fluxify.server1 /org/fluxify/server1 \
                org.fluxify.server1.Manager "$1" 2>/dev/null | sed -E 's/^[a-z]+ //; s/^"(.*)"$/\1/'
}

# tb_wait_client_state PROFILE STATE TIMEOUT_S
tb_wait_client_state() {
        local profile=$1 want=$2 timeout=${3:-15} k st=""
        for ((k = 0; k < timeout * 10; k++)); do
                st=$(tb_client_prop "$profile" State)
                [ "$st" = "$want" ] && return 0
                sleep 0.1
        done
        tb_log "client $profile: state '$st', wanted '$want' within ${timeout}s"
        return 1
}

# Waits until a command succeeds (retrying every 0.1 s): tb_wait_for TIMEOUT_S CMD...
tb_wait_for() {
        local timeout=$1 k
        shift
        for ((k = 0; k < timeout * 10; k++)); do
                "$@" >/dev/null 2>&1 && return 0
                sleep 0.1
        done
        return 1
}

# Seconds since the epoch with ms, for reports.
tb_now() { date +%s.%3N; }

# Evaluates a Python expression on the JSON in FILE (as `d`): tb_jq out.json 'd["end"]["sum"]["bits_per_second"]'
tb_jq() { "$TB_PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# Float comparison helper: tb_check "label" VALUE OP LIMIT  (OP: < <= > >=). Prints and fails.
tb_check() {
        local label=$1 val=$2 op=$3 lim=$4
        if "$TB_PY" -c "import sys; sys.exit(0 if float('$val') $op float('$lim') else 1)"; then
                printf 'ok   %-52s %s %s %s\n' "$label" "$val" "$op" "$lim"
        else
                printf 'FAIL %-52s %s, expected %s %s\n' "$label" "$val" "$op" "$lim"
                TB_FAILURES=$((${TB_FAILURES:-0} + 1))
                return 1
        fi
}

# Starts an iperf3 server in namespace NS (c, s, i) on PORT; name iperf-NS-PORT.
tb_iperf_server() {
        local ns=$1 port=${2:-5201}
        tb_spawn "iperf-$ns-$port" "$TB_P-$ns" iperf3 -s -p "$port"
        tb_wait_for 5 ip netns exec "$TB_P-$ns" sh -c "ss -ltn | grep -q ':$port '" ||
                tb_die "iperf3 server on $ns:$port did not start"
}

# ---------------------------------------------------------------------------------------------
# Fluxify helpers for the e2e suite and the demo

# Compact view of the server's objects (GetManagedObjects) as JSON:
# {"sessions": [{"id", "name", "state", "addresses", "counters": {...}, "connections": [{"state",
#   "rtt_us", "remote", "loss_ppm"}]}], "manager": {...}}
tb_server_state() {
        busctl --address="$TB_BUS_S" -j call org.fluxify.server1 /org/fluxify/server1 \
                org.freedesktop.DBus.ObjectManager GetManagedObjects 2>/dev/null | "$TB_PY" -c '
import json, sys
try:
    objs = json.load(sys.stdin)["data"][0]
except Exception:
    print(json.dumps({"error": "no server on the bus", "sessions": []})); sys.exit()
val = lambda props: {k: v["data"] for k, v in props.items()}
out = {"sessions": []}
for path, ifs in sorted(objs.items()):
    s = ifs.get("org.fluxify.server1.Session")
    if not s:
        continue
    s = val(s)
    conns = []
    for cp in s.get("Connections", []):
        c = val(objs.get(cp, {}).get("org.fluxify.server1.Connection", {}))
        conns.append({"path": cp, "state": c.get("State"), "rtt_us": c.get("RTTUSec"),
                      "remote": c.get("RemoteAddress"), "loss_ppm": c.get("LossPPM")})
    counters = {k: v for k, v in s.items() if isinstance(v, int) and k not in ("Id", "CreatedUSec")}
    out["sessions"].append({"path": path, "id": s.get("Id"), "name": s.get("ClientName"),
                            "state": s.get("State"), "addresses": s.get("Addresses"),
                            "counters": counters, "connections": conns})
print(json.dumps(out))'
}

# tb_sq 'EXPR': evaluates EXPR over the server state `s` (see tb_server_state), prints the result.
tb_sq() { tb_server_state | "$TB_PY" -c 'import json,sys; s=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

# Client paths (fluxifyctl paths --json) as a Python list `p` for tb_pq 'EXPR'.
tb_pq() {
        tb_cctl paths --json=short 2>/dev/null | "$TB_PY" -c '
import json, sys
try:
    p = json.load(sys.stdin)
except Exception:
    p = []
print(eval(sys.argv[1]))' "$1"
}

# State of one client path ("up", "down", ...), by interface name.
tb_path_state() { tb_pq "next((r.get('State') for r in p if r.get('Interface') == '$1'), 'absent')"; }

tb_wait_path_state() { # IFACE STATE TIMEOUT_S
        local k st=""
        for ((k = 0; k < ${3:-10} * 20; k++)); do
                st=$(tb_path_state "$1")
                [ "$st" = "$2" ] && return 0
                sleep 0.05
        done
        tb_log "path $1 is '$st', wanted '$2'"
        return 1
}

# The client's tunnel IPv4 address (from its Session object).
tb_client_addr4() {
        busctl --address="$TB_BUS_C" -j get-property "org.fluxify.client1.${1:-laptop}" /org/fluxify/client1/session \
                org.fluxify.client1.Session Addresses 2>/dev/null |
                "$TB_PY" -c 'import json,sys; print(next((a.split("/")[0] for a in json.load(sys.stdin)["data"] if ":" not in a), ""))'
}

# Everything up: server, a client profile over IFACES, connected with `fluxifyctl connect`, all
# paths up. tb_fx_up PROFILE IFACES [SCHEDULER]. TB_FX_INCREMENTAL=1: connect over the first
# uplink and add the others with `fluxifyctl add-iface` (AddInterface, live).
tb_fx_up() {
        local profile=$1 ifaces=$2 sched=${3:-weighted} n
        n=$(tr ',' '\n' <<<"$ifaces" | wc -l)
        tb_alive server || tb_server_start
        [ -f "$TB_RUN/client/etc/client/$profile.conf" ] || tb_client_config "$profile" "$ifaces" "$sched"
        tb_alive "client-$profile" || tb_client_start "$profile"
        if [ "${TB_FX_INCREMENTAL:-0}" = 1 ]; then
                # Connect over the first uplink, then add the others live (AddInterface).
                local first=${ifaces%%,*} i
                tb_cctl -p "$profile" connect --ifaces "$first" --scheduler "$sched" ||
                        tb_die "fluxifyctl connect --ifaces $first failed"
                tb_wait_client_state "$profile" connected 15 || tb_die "client $profile did not connect"
                for i in ${ifaces//,/ }; do
                        [ "$i" = "$first" ] && continue
                        tb_cctl -p "$profile" add-iface "$i" || tb_die "fluxifyctl add-iface $i failed"
                done
        else
                tb_cctl -p "$profile" connect --ifaces "$ifaces" --scheduler "$sched" ||
                        tb_die "fluxifyctl connect --ifaces $ifaces failed"
                tb_wait_client_state "$profile" connected 15 || tb_die "client $profile did not connect"
        fi
        local k
        for ((k = 0; k < 200; k++)); do
                [ "$(tb_pq "sum(1 for r in p if r.get('State') == 'up')")" -ge "$n" ] && return 0
                sleep 0.05
        done
        tb_cctl -p "$profile" paths >&2
        tb_die "not all $n paths came up"
}

# String equality check: tb_expect "label" ACTUAL EXPECTED
tb_expect() {
        if [ "$2" = "$3" ]; then
                printf 'ok   %-52s %s\n' "$1" "$2"
        else
                printf 'FAIL %-52s got "%s", expected "%s"\n' "$1" "$2" "$3"
                TB_FAILURES=$((${TB_FAILURES:-0} + 1))
                return 1
        fi
}

# tb_iperf NS OUT.json IPERF3-ARGS...: iperf3 -J in namespace NS (c, s, i), retried a few times
# when the server is still busy with the previous test or the run produced no result.
tb_iperf() {
        local ns=$1 out=$2 k
        shift 2
        for ((k = 0; k < 4; k++)); do
                ip netns exec "$TB_P-$ns" iperf3 "$@" -J >"$out" 2>&1
                "$TB_PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(1 if "error" in d else 0)' \
                        "$out" 2>/dev/null && return 0
                sleep 1
        done
        tb_log "iperf3 $* failed: $(tail -c 300 "$out")"
        return 1
}
