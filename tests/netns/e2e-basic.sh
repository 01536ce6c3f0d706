#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# End to end, basics: fluxifyctl connect over 2 then 3 uplinks; ping v4 and v6 through the
# tunnel to the internet host (only reachable through the server's NAT); 100 MB each way with
# matching SHA-256; busctl introspect and `fluxifyctl paths --json` show every path up with an
# RTT; Disconnect and daemon stop leave routes, rules, nft tables and links exactly as before.
set -u
source "$(dirname "$0")/testbed/testbed.sh"
tb_init
tb_deadline 170
TB_FAILURES=0
MB=${E2E_TRANSFER_MB:-100}

tb_up -n 3
tb_server_sysctl # part of the host's configuration (sysctl.d), not of the daemon's own state
tb_snapshot "$TB_P-c" "$TB_RUN/client-before"
tb_snapshot "$TB_P-s" "$TB_RUN/server-before"

tb_server_start
tb_client_config laptop up1,up2,up3
tb_client_start laptop

echo "# connect over 2 uplinks"
tb_cctl connect --ifaces up1,up2 || tb_die "fluxifyctl connect --ifaces up1,up2 failed"
tb_wait_client_state laptop connected 15 || tb_die "not connected"
tb_wait_for 10 test "$(tb_pq "sum(1 for r in p if r.get('State') == 'up')")" = 2
tb_check "client paths up (fluxifyctl paths --json)" "$(tb_pq "sum(1 for r in p if r.get('State') == 'up')")" == 2
tb_check "client paths with an RTT" "$(tb_pq "sum(1 for r in p if r.get('RTTUSec', 0) > 0)")" == 2
tb_check "client paths listed" "$(tb_pq 'len(p)')" == 2
tb_wait_for 5 test "$(tb_sq "sum(1 for x in s['sessions'] for c in x['connections'] if c['state'] == 'up')")" = 2
tb_check "server: one session" "$(tb_sq "len(s['sessions'])")" == 1
tb_check "server: connections up" "$(tb_sq "sum(1 for x in s['sessions'] for c in x['connections'] if c['state'] == 'up')")" == 2
tb_check "server: connections with an RTT" "$(tb_sq "sum(1 for x in s['sessions'] for c in x['connections'] if (c['rtt_us'] or 0) > 0)")" == 2
introspect=$(busctl --address="$TB_BUS_S" introspect org.fluxify.server1 /org/fluxify/server1 2>&1)
tb_check "busctl introspect: Manager interface" "$(grep -c '^org.fluxify.server1.Manager ' <<<"$introspect")" == 1
tb_check "busctl introspect: SessionCount 1" "$(grep -cE '^\.SessionCount +property +u +1 ' <<<"$introspect")" == 1
tb_check "busctl introspect: ObjectManager" "$(grep -c '^org.freedesktop.DBus.ObjectManager ' <<<"$introspect")" == 1

echo "# ping through the tunnel to the internet host (NAT)"
tb_check "ping v4 to $TB_INET_ADDR" "$(tb_c ping -q -c 5 -i 0.1 -W 2 "$TB_INET_ADDR" | sed -nE 's/.* ([0-9]+) received.*/\1/p')" == 5
tb_check "ping v6 to $TB_INET_ADDR6" "$(tb_c ping -6 -q -c 5 -i 0.1 -W 2 "$TB_INET_ADDR6" | sed -nE 's/.* ([0-9]+) received.*/\1/p')" == 5
caddr=$(tb_client_addr4 laptop)
tb_check "tunnel address assigned from the pool" "$(grep -c '^10\.8\.0\.' <<<"$caddr")" == 1

echo "# ${MB} MB each way through the tunnel, SHA-256 on both ends"
xfer() { # direction
        local dir=$1 srv cli
        if [ "$dir" = up ]; then
                tb_spawn xfer-srv "$TB_P-i" "$TB_PY" "$TB_SRC/xfer.py" serve --port 5301 --timeout 90
                sleep 0.3
                cli=$(tb_c "$TB_PY" "$TB_SRC/xfer.py" send --to "$TB_INET_ADDR" --port 5301 --bytes $((MB << 20)))
        else
                tb_spawn xfer-srv "$TB_P-i" "$TB_PY" "$TB_SRC/xfer.py" serve --port 5301 --timeout 90 \
                        --send-bytes $((MB << 20))
                sleep 0.3
                cli=$(tb_c "$TB_PY" "$TB_SRC/xfer.py" fetch --to "$TB_INET_ADDR" --port 5301)
        fi
        tb_stop xfer-srv TERM 30
        srv=$(tail -n 1 "$TB_RUN/logs/xfer-srv.log")
        rm -f "$TB_RUN/logs/xfer-srv.log"
        echo "     client: $cli"
        echo "     server: $srv"
        local a b n secs
        a=$("$TB_PY" -c 'import json,sys; print(json.loads(sys.argv[1])["sha256"])' "$cli" 2>/dev/null)
        b=$("$TB_PY" -c 'import json,sys; print(json.loads(sys.argv[1])["sha256"])' "$srv" 2>/dev/null)
        n=$("$TB_PY" -c 'import json,sys; print(json.loads(sys.argv[1])["bytes"])' "$srv" 2>/dev/null)
        secs=$("$TB_PY" -c 'import json,sys; print(json.loads(sys.argv[1])["seconds"])' "$cli" 2>/dev/null)
        tb_check "$MB MB $dir: bytes received" "${n:-0}" == $((MB << 20))
        tb_check "$MB MB $dir: SHA-256 equal on both ends" "$([ -n "$a" ] && [ "$a" = "$b" ] && echo 1 || echo 0)" == 1
        [ -n "$secs" ] && echo "     $(awk -v b=$((MB << 20)) -v s="$secs" 'BEGIN {printf "%.0f Mbit/s", b * 8 / s / 1e6}')"
}
xfer up
xfer down

echo "# disconnect: kernel state back to what it was"
tb_cctl disconnect || tb_die "fluxifyctl disconnect failed"
tb_wait_client_state laptop idle 10
tb_snapshot "$TB_P-c" "$TB_RUN/client-disconnected"
if diff -u "$TB_RUN/client-before" "$TB_RUN/client-disconnected" >"$TB_RUN/diff1"; then
        tb_check "client ns after Disconnect: routes, rules, nft, links unchanged" 1 == 1
else
        cat "$TB_RUN/diff1"
        tb_check "client ns after Disconnect: routes, rules, nft, links unchanged" 0 == 1
fi

echo "# connect over 3 uplinks"
tb_cctl connect --ifaces up1,up2,up3 || tb_die "fluxifyctl connect --ifaces up1,up2,up3 failed"
tb_wait_client_state laptop connected 15 || tb_die "not connected over 3 uplinks"
tb_wait_for 10 test "$(tb_pq "sum(1 for r in p if r.get('State') == 'up')")" = 3
tb_check "3 uplinks: client paths up" "$(tb_pq "sum(1 for r in p if r.get('State') == 'up' and r.get('RTTUSec', 0) > 0)")" == 3
tb_wait_for 5 test "$(tb_sq "sum(1 for x in s['sessions'] for c in x['connections'] if c['state'] == 'up')")" = 3
tb_check "3 uplinks: server connections up" "$(tb_sq "sum(1 for x in s['sessions'] for c in x['connections'] if c['state'] == 'up')")" == 3
tb_check "3 uplinks: ping v4" "$(tb_c ping -q -c 5 -i 0.1 -W 2 "$TB_INET_ADDR" | sed -nE 's/.* ([0-9]+) received.*/\1/p')" == 5
tb_expect "3 uplinks: same tunnel address as before" "$(tb_client_addr4 laptop)" "$caddr"

echo "# daemon stop while connected: kernel state back to what it was"
tb_client_stop laptop
tb_snapshot "$TB_P-c" "$TB_RUN/client-stopped"
if diff -u "$TB_RUN/client-before" "$TB_RUN/client-stopped" >"$TB_RUN/diff2"; then
        tb_check "client ns after fluxifyd-client stop: unchanged" 1 == 1
else
        cat "$TB_RUN/diff2"
        tb_check "client ns after fluxifyd-client stop: unchanged" 0 == 1
fi
tb_server_stop
tb_snapshot "$TB_P-s" "$TB_RUN/server-stopped"
if diff -u "$TB_RUN/server-before" "$TB_RUN/server-stopped" >"$TB_RUN/diff3"; then
        tb_check "server ns after fluxifyd-server stop: unchanged" 1 == 1
else
        cat "$TB_RUN/diff3"
        tb_check "server ns after fluxifyd-server stop: unchanged" 0 == 1
fi

[ "$TB_FAILURES" = 0 ] || { echo "$TB_FAILURES check(s) failed"; exit 1; }
echo "e2e-basic: all checks passed"
