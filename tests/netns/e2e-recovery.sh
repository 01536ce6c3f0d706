#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# End to end, recovery and revocation:
#   - the server restarts: the client reconnects by itself (no fluxifyctl command) and keeps its
#     tunnel address (persistent lease), traffic flows again, every path comes back up;
#   - the client's certificate is revoked: its session ends within a second, and reconnecting is
#     refused (the daemon keeps trying; no session appears, no traffic passes).
set -u
source "$(dirname "$0")/testbed/testbed.sh"
tb_init
tb_deadline 150
TB_FAILURES=0

tb_up -n 2 --delay 1,3
TB_FX_INCREMENTAL=1 tb_fx_up laptop up1,up2 weighted
addr=$(tb_client_addr4 laptop)
echo "     tunnel address $addr"
tb_check "ping through the tunnel before the restart" "$(tb_c ping -q -c 3 -i 0.1 -W 2 "$TB_INET_ADDR" | sed -nE 's/.* ([0-9]+) received.*/\1/p')" == 3

echo "# restart the server"
tb_server_stop
t0=$(tb_now)
sleep 1
tb_server_start
# Reconnected = a session on the server again and traffic through the tunnel.
ok=0
for ((k = 0; k < 200; k++)); do
        if [ "$(tb_sq "len(s['sessions'])")" = 1 ] && tb_c ping -c 1 -W 0.3 10.8.0.1 >/dev/null 2>&1; then
                ok=1
                break
        fi
        sleep 0.1
done
t1=$(tb_now)
tb_check "client reconnected by itself" "$ok" == 1
tb_check "reconnected within (s after the server stopped; down 1 s)" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')" '<' 20
tb_wait_client_state laptop connected 10
tb_expect "client state after the restart" "$(tb_client_prop laptop State)" connected
tb_expect "same tunnel address after the restart" "$(tb_client_addr4 laptop)" "$addr"
tb_expect "server session has the same address" "$(tb_sq "s['sessions'][0]['addresses'][0].split('/')[0]")" "$addr"
tb_wait_for 10 test "$(tb_pq "sum(1 for r in p if r.get('State') == 'up')")" = 2
tb_check "both paths up again" "$(tb_pq "sum(1 for r in p if r.get('State') == 'up')")" == 2
tb_check "ping to the internet host after the restart" "$(tb_c ping -q -c 3 -i 0.1 -W 2 "$TB_INET_ADDR" | sed -nE 's/.* ([0-9]+) received.*/\1/p')" == 3

echo "# revoke the client's certificate"
t0=$(tb_now)
tb_sctl pki revoke laptop || tb_check "fluxifyctl pki revoke laptop" 1 == 0
gone=0
for ((k = 0; k < 60; k++)); do
        [ "$(tb_sq "len(s['sessions'])")" = 0 ] && { gone=1; break; }
        sleep 0.05
done
t1=$(tb_now)
tb_check "session gone after the revocation" "$gone" == 1
tb_check "session ended within (s)" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')" '<' 1.0
tb_wait_for 3 sh -c "[ \"\$(busctl --address='$TB_BUS_C' get-property org.fluxify.client1.laptop /org/fluxify/client1 org.fluxify.client1.Manager State)\" != 's \"connected\"' ]"
st=$(tb_client_prop laptop State)
tb_check "client no longer connected (state $st)" "$([ "$st" != connected ] && echo 1 || echo 0)" == 1
sleep 4
tb_check "no session 4 s later (reconnect refused)" "$(tb_sq "len(s['sessions'])")" == 0
tb_check "no traffic through the tunnel" "$(tb_c ping -q -c 2 -i 0.2 -W 1 10.8.0.1 2>/dev/null | sed -nE 's/.* ([0-9]+) received.*/\1/p')" == 0
tb_cctl connect --ifaces up1 --no-block >/dev/null 2>&1
sleep 3
tb_check "explicit connect still refused: sessions" "$(tb_sq "len(s['sessions'])")" == 0
echo "     client state $(tb_client_prop laptop State), last error: $(tb_client_prop laptop LastError)"
tb_check "server alive" "$(tb_alive server && echo 1 || echo 0)" == 1
tb_check "client daemon alive" "$(tb_alive client-laptop && echo 1 || echo 0)" == 1

[ "$TB_FAILURES" = 0 ] || { echo "$TB_FAILURES check(s) failed"; exit 1; }
echo "e2e-recovery: all checks passed"
