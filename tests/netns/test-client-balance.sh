#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# fluxifyd-client in load-balance mode (serverless) over two uplinks of the testbed, probing the
# far host (the testbed's server address, reachable through both routers; no fluxifyd-server
# runs): the multipath /1 routes with one nexthop per healthy uplink, per-uplink tables and rules,
# masquerade per uplink; a path whose router stops forwarding is dropped after its probes fail and
# restored when they answer again; a link going down is dropped at once; Disconnect restores the
# namespace exactly.
set -u
source "$(dirname "$0")/testbed/testbed.sh"
tb_init
tb_deadline 120
TB_FAILURES=0

C=$TB_P-c
tb_up -n 2
tb_snapshot "$C" "$TB_RUN/client-before"

d=$TB_RUN/client
mkdir -p "$d/etc/client" "$d/state" "$d/run"
cat >"$d/etc/client/lb.conf" <<EOF
[Client]
Mode=load-balance
# No tunnel in this mode: the server address is only the far end the health probes ping.
Server=$TB_SERVER_ADDR
Interfaces=up1 up2

[Interface up2]
Weight=3
EOF
tb_client_start lb

nexthops() { ip -n "$C" -4 route show 0.0.0.0/1 proto 70 | grep -c 'nexthop via'; }
single_dev() { ip -n "$C" -4 route show 0.0.0.0/1 proto 70 | sed -nE 's/.* dev (up[0-9]).*/\1/p' | head -n1; }
same_as_before() {
        tb_snapshot "$C" "$TB_RUN/client-now"
        if diff -u "$TB_RUN/client-before" "$TB_RUN/client-now"; then
                tb_check "$1: routes, rules, links, addresses, nft as before" 1 == 1
        else
                tb_check "$1: routes, rules, links, addresses, nft as before" 0 == 1
        fi
}
path() { tb_cctl -p lb paths --json=short | "$TB_PY" -c "import json,sys; print(next((r.get('$2') for r in json.load(sys.stdin) if r['Interface'] == '$1'), 'absent'))"; }

echo "# connect"
tb_cctl -p lb connect || tb_die "connect failed"
tb_wait_client_state lb connected 10 || tb_die "load-balance never connected"
tb_wait_for 10 test "$(nexthops)" = 2
tb_cctl -p lb paths
tb_cctl -p lb status
tb_check "multipath /1 routes with two nexthops" "$(nexthops)" == 2
tb_check "128.0.0.0/1 too" "$(ip -n "$C" -4 route show 128.0.0.0/1 proto 70 | grep -c 'nexthop via')" == 2
tb_check "weights from the profile" "$(ip -n "$C" -4 route show 0.0.0.0/1 proto 70 | grep -c 'dev up2 weight 3')" == 1
tb_check "fwmark rules per uplink" "$(ip -n "$C" -4 rule show | grep -c '^25100:.*fwmark')" == 2
tb_check "source rules per uplink" "$(ip -n "$C" -4 rule show | grep -c -E '^25200:.*from 172\.16\.[12]\.2 lookup')" == 2
tb_check "masquerade per uplink" "$(ip netns exec "$C" nft list table inet fluxify_client_lb | grep -c 'oifname "up[12]" masquerade')" == 2
tb_expect "up1 up" "$(path up1 State)" up
tb_expect "up2 up" "$(path up2 State)" up
tb_check "up1 RTT measured" "$(path up1 RTTUSec)" ">" 0
tb_expect "up2 local address" "$(path up2 LocalAddress)" 172.16.2.2
tb_expect "probe target" "$(path up1 RemoteAddress)" "$TB_SERVER_ADDR"
tb_check "far host reachable" "$(tb_c ping -q -c 3 -i 0.1 -W 2 "$TB_SERVER_ADDR" | sed -nE 's/.* ([0-9]+) received.*/\1/p')" == 3
# IPv4 only, as fluxifyd-client(8) documents: IPv6 routing is left entirely to the host.
tb_check "IPv6 untouched: no routes of ours" "$(ip -n "$C" -6 route show table all proto 70 | wc -l)" == 0
tb_check "IPv6 untouched: no rules of ours" "$(ip -n "$C" -6 rule show | grep -c -E '^25[0-9]{3}:')" == 0

echo "# router 1 stops forwarding: probes fail, its nexthop goes"
tb_cut 1
tb_wait_path_state_lb() { local k; for ((k = 0; k < $2 * 10; k++)); do [ "$(path "$1" State)" = "$3" ] && return 0; sleep 0.1; done; return 1; }
tb_wait_path_state_lb up1 8 down
tb_expect "up1 down after its probes failed" "$(path up1 State)" down
tb_wait_for 3 test "$(nexthops)" = 0
tb_expect "default route over up2 only" "$(single_dev)" up2
tb_check "far host still reachable" "$(tb_c ping -q -c 3 -i 0.1 -W 2 "$TB_SERVER_ADDR" | sed -nE 's/.* ([0-9]+) received.*/\1/p')" == 3
tb_expect "still connected" "$(tb_client_prop lb State)" connected
tb_restore 1
tb_wait_path_state_lb up1 15 up
tb_expect "up1 up again" "$(path up1 State)" up
tb_wait_for 3 test "$(nexthops)" = 2
tb_check "two nexthops again" "$(nexthops)" == 2

echo "# up2 link down: dropped at once"
ip -n "$C" link set up2 down
tb_wait_path_state_lb up2 2 down
tb_expect "up2 down" "$(path up2 State)" down
tb_expect "default route over up1 only" "$(single_dev)" up1
ip -n "$C" link set up2 up
ip -n "$C" route replace default via 172.16.2.1 dev up2 metric 102
tb_wait_path_state_lb up2 8 up
tb_expect "up2 back" "$(path up2 State)" up

echo "# disconnect"
tb_cctl -p lb disconnect || tb_check "disconnect" 1 == 0
same_as_before "after Disconnect"

tb_check "no sanitizer report in the client's log" \
        "$(grep -c -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$TB_RUN/logs/client-lb.log")" == 0

[ "$TB_FAILURES" -eq 0 ]
