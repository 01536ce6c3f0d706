#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# End to end, replayed and forged datagrams change nothing. Real datagrams of a live session are
# captured at router 1 (both directions), then re-sent from the router:
#   - verbatim, same source address and port (raw socket);
#   - the same payloads from another address:port (the path-hijack attempt of reference-go §5 S2);
#   - tampered copies (ciphertext, tag, nonce and header bits flipped, truncations, garbage
#     behind a valid session id), from the original and from another source.
# Afterwards: no replayed inner packet reached either TUN, the session, its paths and their
# remote addresses are unchanged, the drops were counted, both daemons live and traffic flows.
set -u
source "$(dirname "$0")/testbed/testbed.sh"
tb_init
tb_deadline 120
TB_FAILURES=0

tb_up -n 2 --delay 1,3
TB_FX_INCREMENTAL=1 tb_fx_up laptop up1,up2 weighted
stun=$(tb_server_prop TunnelInterface)
ctun=$(ip -n "$TB_P-c" -j -d link show | "$TB_PY" -c '
import json, sys
print(next((l["ifname"] for l in json.load(sys.stdin) if l.get("linkinfo", {}).get("info_kind") == "tun"), ""))')
[ -n "$stun" ] && [ -n "$ctun" ] || tb_die "tunnel interfaces not found (server '$stun', client '$ctun')"

echo "# capture real datagrams at router 1 while pinging through the tunnel"
tb_spawn cap-c2s "$TB_P-r1" tcpdump -n -U --immediate-mode -i rs -w "$TB_RUN/c2s.pcap" -c 150 udp and dst port 8000
tb_spawn cap-s2c "$TB_P-r1" tcpdump -n -U --immediate-mode -i rc -w "$TB_RUN/s2c.pcap" -c 150 udp and src port 8000
sleep 1
tb_c ping -q -c 300 -i 0.005 -W 1 10.8.0.1 >/dev/null 2>&1
sleep 0.5
tb_stop cap-c2s INT 3
tb_stop cap-s2c INT 3
sleep 1 # in-flight data settles

before=$(tb_server_state)
q() { "$TB_PY" -c 'import json,sys; s=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
sid=$(q "$before" "s['sessions'][0]['id']")
remotes_before=$(q "$before" "sorted(c['remote'] for c in s['sessions'][0]['connections'])")
ctr_before=$(q "$before" "s['sessions'][0]['counters']")
echo "     session $sid, paths $remotes_before"
echo "     counters before: $ctr_before"

# Watch both TUNs for inner ICMP while nothing legitimate is sent.
tb_spawn tun-s "$TB_P-s" tcpdump -n -U --immediate-mode -i "$stun" -w "$TB_RUN/tun-s.pcap" icmp or icmp6
tb_spawn tun-c "$TB_P-c" tcpdump -n -U --immediate-mode -i "$ctun" -w "$TB_RUN/tun-c.pcap" icmp or icmp6
sleep 1

echo "# replay and forge from router 1"
for mode in "c2s.pcap verbatim" "c2s.pcap newsrc" "c2s.pcap forge" "c2s.pcap forge --newsrc" \
        "s2c.pcap verbatim" "s2c.pcap forge"; do
        set -- $mode
        out=$(tb_r 1 "$TB_PY" "$TB_SRC/replay.py" --pcap "$TB_RUN/$1" "${@:2}" 2>&1)
        echo "     $1 ${*:2}: $out"
        tb_check "$1 ${*:2}: datagrams sent" "$(q "$out" "s['sent']" 2>/dev/null || echo 0)" '>' 0
done
sleep 1.5
# Positive control: exactly these two echo requests (and their replies) may show up on the TUNs.
tb_c ping -q -c 2 -i 0.2 -W 1 10.8.0.1 >/dev/null 2>&1
sleep 0.5
tb_stop tun-s INT 3
tb_stop tun-c INT 3
tun_count() { tcpdump -n -r "$1" "$2" 2>/dev/null | wc -l; }
tb_check "echo requests on the server TUN (2 legitimate)" "$(tun_count "$TB_RUN/tun-s.pcap" 'icmp[icmptype] == icmp-echo')" == 2
tb_check "echo replies on the client TUN (2 legitimate)" "$(tun_count "$TB_RUN/tun-c.pcap" 'icmp[icmptype] == icmp-echoreply')" == 2

after=$(tb_server_state)
echo "     counters after:  $(q "$after" "s['sessions'][0]['counters']" 2>/dev/null)"
tb_check "still one session" "$(q "$after" "len(s['sessions'])")" == 1
tb_expect "same session id" "$(q "$after" "s['sessions'][0]['id']")" "$sid"
tb_expect "same paths (no hijacked or added path)" "$(q "$after" "sorted(c['remote'] for c in s['sessions'][0]['connections'])")" "$remotes_before"
tb_check "replays counted (ReplayDrops delta)" "$(q "$after" "s['sessions'][0]['counters'].get('ReplayDrops', 0) - $(q "$before" "s['sessions'][0]['counters'].get('ReplayDrops', 0)")")" '>' 0
tb_check "forgeries counted (AuthFailures delta)" "$("$TB_PY" -c '
import json, sys
b, a = json.loads(sys.argv[1]), json.loads(sys.argv[2])
keys = ("AuthFailures",)
d = sum(a["sessions"][0]["counters"].get(k, 0) - b["sessions"][0]["counters"].get(k, 0) for k in keys)
print(d)' "$before" "$after")" '>' 0
tb_check "server alive" "$(tb_alive server && echo 1 || echo 0)" == 1
tb_check "client alive" "$(tb_alive client-laptop && echo 1 || echo 0)" == 1
tb_expect "client still connected" "$(tb_client_prop laptop State)" connected
tb_check "client paths up" "$(tb_pq "sum(1 for r in p if r.get('State') == 'up')")" == 2
tb_check "traffic still flows" "$(tb_c ping -q -c 5 -i 0.1 -W 2 "$TB_INET_ADDR" | sed -nE 's/.* ([0-9]+) received.*/\1/p')" == 5

[ "$TB_FAILURES" = 0 ] || { echo "$TB_FAILURES check(s) failed"; exit 1; }
echo "e2e-attack: all checks passed"
