#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# fluxifyd-client's kernel state in a real bonding session (server and client in their own
# namespaces, two veth uplinks through two routers; the testbed library builds them):
#   - per-uplink routing table (default via that uplink's gateway) selected by a fwmark rule, the
#     default route into the tunnel as two /1 routes per family, a host route to the server outside
#     it, all tagged proto 70; the TUN with the leased addresses and the MTU;
#   - netlink events: an uplink's carrier going away takes its path down at once, coming back
#     brings it up; RemoveInterface/AddInterface live;
#   - DefaultRoute=no leaves routing alone;
#   - Disconnect, stop, and a restart after SIGKILL restore the namespace exactly.
set -u
source "$(dirname "$0")/testbed/testbed.sh"
tb_init
tb_deadline 200
TB_FAILURES=0

C=$TB_P-c
tb_up -n 2
tb_snapshot "$C" "$TB_RUN/client-before"
tb_server_start
tb_client_config laptop up1,up2
tb_client_start laptop

same_as_before() { # LABEL
        tb_snapshot "$C" "$TB_RUN/client-now"
        if diff -u "$TB_RUN/client-before" "$TB_RUN/client-now" >"$TB_RUN/client-diff"; then
                tb_check "$1: routes, rules, links, addresses as before" 1 == 1
        else
                cat "$TB_RUN/client-diff"
                tb_check "$1: routes, rules, links, addresses as before" 0 == 1
        fi
}
count() { grep -c -E -- "$2" <<<"$1"; }
# Pings that must all be answered: N replies out of N, printed as "R".
pings() { # DEST COUNT
        tb_c ping -q -c "$2" -i 0.1 -W 2 "$1" | sed -nE 's/.* ([0-9]+) received.*/\1/p'
}
# Both ends must agree on the paths before traffic is asserted: the client's view (fluxifyctl
# paths) is updated at once, the server's takes its own probes, and until then it may still send
# the downlink half of a ping over a path the client already gave up. Poll with a deadline rather
# than sleep and hope (a loaded or sanitizer build is slower, never wrong).
server_paths_up() { tb_sq 'sum(1 for x in s["sessions"] for c in x["connections"] if c["state"] == "up")'; }
wait_server_paths_up() { # N TIMEOUT_S
        local k n=""
        for ((k = 0; k < $2 * 10; k++)); do
                n=$(server_paths_up)
                [ "$n" = "$1" ] && return 0
                sleep 0.1
        done
        tb_log "server: $n paths up, wanted $1 within $2 s"
        return 1
}
# The longest silence between two answered pings of a ping -D log (ms), for the report.
ping_gap_ms() { # LOG
        "$TB_PY" -c '
import re, sys
ts = [float(m.group(1)) for m in re.finditer(r"^\[(\d+\.\d+)\] \d+ bytes from", open(sys.argv[1]).read(), re.M)]
print(round(max((b - a for a, b in zip(ts, ts[1:])), default=-1) * 1000))' "$1"
}

echo "# connect over up1 and up2"
tb_cctl connect --ifaces up1,up2 || tb_die "fluxifyctl connect failed"
tb_wait_client_state laptop connected 15 || tb_die "not connected"
tb_wait_path_state up1 up 10
tb_wait_path_state up2 up 10
echo "----- fluxifyctl paths"
tb_cctl paths
echo "----- fluxifyctl status"
tb_cctl status
echo "-----"
tb_expect "path up1" "$(tb_path_state up1)" up
tb_expect "path up2" "$(tb_path_state up2)" up
wait_server_paths_up 2 5
tb_check "server: both paths up" "$(server_paths_up)" == 2

# The Session object (present only now) matches its checked-in interface description, like the
# Manager and Connection ones checked by test-client-bus.
xml_section() { # FILE-OR-DASH INTERFACE: the <interface> element with the indentation dropped
        "$TB_PY" -c '
import re, sys
text = sys.stdin.read() if sys.argv[1] == "-" else open(sys.argv[1]).read()
m = re.search(r"<interface name=\"%s\">.*?</interface>" % re.escape(sys.argv[2]), text, re.S)
print(re.sub(r">\s+", ">", m.group(0)) if m else "missing")' "$1" "$2"
}
got=$(busctl --address="$TB_BUS_C" --json=short call org.fluxify.client1.laptop /org/fluxify/client1/session \
        org.freedesktop.DBus.Introspectable Introspect | "$TB_PY" -c 'import json,sys; print(json.load(sys.stdin)["data"][0])' |
        xml_section - org.fluxify.client1.Session)
want=$(xml_section "$TB_ROOT/dbus/interfaces/org.fluxify.client1.Session.xml" org.fluxify.client1.Session)
tb_expect "Session introspection equals dbus/interfaces/org.fluxify.client1.Session.xml" "$got" "$want"
sess=$(busctl --address="$TB_BUS_C" get-property org.fluxify.client1.laptop /org/fluxify/client1 \
        org.fluxify.client1.Manager Session)
tb_expect "Manager.Session points at the session" "$sess" 'o "/org/fluxify/client1/session"'
tb_expect "Session.Protocol" "$(busctl --address="$TB_BUS_C" get-property org.fluxify.client1.laptop \
        /org/fluxify/client1/session org.fluxify.client1.Session Protocol)" "u 2"

rules=$(ip -n "$C" -4 rule show)
tb_check "two fwmark rules at priority 25100" "$(count "$rules" '^25100:.*fwmark 0x46[0-9a-f]{6} lookup [0-9]+ proto 70')" == 2
for i in 1 2; do
        idx=$(ip -n "$C" -j link show "up$i" | "$TB_PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["ifindex"])')
        table=$(ip -n "$C" -4 rule show | sed -nE "s/^25100:.*fwmark (0x[0-9a-f]+) lookup ([0-9]+).*/\1 \2/p" |
                while read -r mark tbl; do [ $((mark & 0xffff)) -eq "$idx" ] && echo "$tbl"; done)
        tb_check "up$i: rule for its ifindex" "$(wc -w <<<"$table")" == 1
        tb_expect "up$i: table routes via its own gateway" \
                "$(ip -n "$C" -4 route show table "$table" | tr -s ' ')" "default via 172.16.$i.1 dev up$i proto 70 "
done
routes=$(ip -n "$C" -4 route show proto 70)
tb_check "v4 0.0.0.0/1 into the tunnel" "$(count "$routes" '^0\.0\.0\.0/1 dev flx-laptop')" == 1
tb_check "v4 128.0.0.0/1 into the tunnel" "$(count "$routes" '^128\.0\.0\.0/1 dev flx-laptop')" == 1
tb_check "host route to the server outside the tunnel" "$(count "$routes" "^$TB_SERVER_ADDR via 172\.16\.[12]\.1 dev up[12]")" == 1
routes6=$(ip -n "$C" -6 route show proto 70)
tb_check "v6 ::/1 into the tunnel" "$(count "$routes6" '^::/1 dev flx-laptop')" == 1
tb_check "v6 8000::/1 into the tunnel" "$(count "$routes6" '^8000::/1 dev flx-laptop')" == 1
tb_check "original default routes untouched" "$(ip -n "$C" -4 route show default | grep -c 'via 172.16')" == 2
tun=$(ip -n "$C" -d -j addr show flx-laptop)
tb_expect "TUN MTU" "$("$TB_PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["mtu"])' <<<"$tun")" 1400
tb_check "TUN has the leased IPv4 address" "$(grep -c -E '"local": ?"10\.8\.0\.' <<<"$tun")" == 1
tb_check "TUN has the leased IPv6 address" "$(grep -c -E '"local": ?"fd00:8::' <<<"$tun")" == 1
tb_check "nft table with MSS clamping for forwarded traffic" \
        "$(ip netns exec "$C" nft list table inet fluxify_client_laptop 2>/dev/null | grep -c 'maxseg size set rt mtu')" ">=" 2
tb_check "ping the server's tunnel address" "$(pings 10.8.0.1 3)" == 3
tb_check "ping the internet host through the tunnel" "$(pings "$TB_INET_ADDR" 3)" == 3
tb_check "routing journal in the runtime directory" "$(grep -c '"table"' "$TB_RUN/client/run/client/laptop.routes")" ">=" 6

echo "# netlink: uplink carrier lost and back"
# A ping every 20 ms across the failover measures the gap in delivery; it is reported, not
# asserted (the failover bar belongs to the e2e suite and bench/, not to a sanitizer build).
tb_c ping -D -n -i 0.02 -W 1 -w 6 "$TB_INET_ADDR" >"$TB_RUN/failover-ping.log" 2>&1 &
gap_pid=$!
sleep 0.5
t0=$(tb_now)
ip -n "$C" link set up2 down
tb_wait_path_state up2 down 2
t1=$(tb_now)
tb_check "up2 down after its link went down (s)" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" "<" 1
tb_expect "up1 still up" "$(tb_path_state up1)" up
# Failover is over once the server also stopped using the dead path; from then on nothing may be
# lost.
wait_server_paths_up 1 5
tb_check "server: one path up after the carrier loss" "$(server_paths_up)" == 1
tb_check "traffic still flows (every ping answered)" "$(pings "$TB_INET_ADDR" 10)" == 10
wait "$gap_pid"
echo "# failover: longest gap between answered pings $(ping_gap_ms "$TB_RUN/failover-ping.log") ms" \
        "($(grep -c 'bytes from' "$TB_RUN/failover-ping.log") answered, every 20 ms over 6 s)"
ip -n "$C" link set up2 up
# The route via the gateway is gone with the link; the testbed's own default route comes back
# with it as NetworkManager would put it back.
ip -n "$C" route replace default via 172.16.2.1 dev up2 metric 102
tb_wait_path_state up2 up 10
tb_expect "up2 up again" "$(tb_path_state up2)" up
wait_server_paths_up 2 5
tb_check "server: both paths up again" "$(server_paths_up)" == 2
tb_check "traffic flows over both paths again" "$(pings "$TB_INET_ADDR" 5)" == 5

echo "# RemoveInterface / AddInterface, live"
tb_cctl remove-iface up2 || tb_check "remove-iface up2" 1 == 0
tb_check "one path left" "$(tb_pq 'len(p)')" == 1
tb_check "one fwmark rule left" "$(ip -n "$C" -4 rule show | grep -c '^25100:')" == 1
tb_expect "still connected" "$(tb_client_prop laptop State)" connected
tb_cctl add-iface up2 || tb_check "add-iface up2" 1 == 0
tb_wait_path_state up2 up 10
tb_expect "up2 up after add-iface" "$(tb_path_state up2)" up

echo "# disconnect"
tb_cctl disconnect || tb_check "fluxifyctl disconnect" 1 == 0
tb_expect "idle" "$(tb_client_prop laptop State)" idle
same_as_before "after Disconnect"

echo "# a dead first uplink does not block the connection (the race moves on)"
tb_cut 1
t0=$(tb_now)
tb_cctl connect --ifaces up1,up2 || tb_die "connect with a dead up1 failed"
t1=$(tb_now)
tb_expect "connected although up1 is dead" "$(tb_client_prop laptop State)" connected
tb_check "connect took (s)" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" "<" 3
tb_wait_path_state up2 up 5
tb_expect "up2 carries the session" "$(tb_path_state up2)" up
tb_check "up1 is not up" "$([ "$(tb_path_state up1)" != up ] && echo 1 || echo 0)" == 1
tb_restore 1
tb_wait_path_state up1 up 10
tb_expect "up1 up once its router forwards again" "$(tb_path_state up1)" up
tb_cctl disconnect || tb_check "fluxifyctl disconnect" 1 == 0
same_as_before "after the dead-uplink connect"

echo "# crash: SIGKILL while connected, then start again"
tb_cctl connect --ifaces up1,up2 || tb_die "reconnect failed"
tb_wait_client_state laptop connected 15 || tb_die "not connected again"
tb_stop client-laptop KILL 5
tb_check "rules left behind by the crash" "$(ip -n "$C" -4 rule show | grep -c '^25100:')" == 2
tb_check "nft table left behind by the crash" "$(ip netns exec "$C" nft list tables | grep -c fluxify_client_laptop)" == 1
tb_client_start laptop
tb_check "journal replayed at start: no rules" "$(ip -n "$C" -4 rule show | grep -c '^25100:')" == 0
same_as_before "after a crash and a restart"

echo "# AutoConnect=yes and DefaultRoute=no"
TB_CLIENT_CONF_EXTRA=$'DefaultRoute=no\nAutoConnect=yes' tb_client_config laptop up1,up2
tb_client_stop laptop
tb_client_start laptop
tb_wait_client_state laptop connected 15 || tb_die "AutoConnect=yes did not connect"
tb_expect "connected by itself (AutoConnect=yes)" "$(tb_client_prop laptop State)" connected
tb_check "no /1 routes with DefaultRoute=no" "$(ip -n "$C" -4 route show proto 70 | grep -c '/1 dev')" == 0
# Connected means the control session is set up; the data paths come up after their probes.
tb_wait_path_state up1 up 10
tb_wait_path_state up2 up 10
wait_server_paths_up 2 5
tb_check "tunnel still usable with DefaultRoute=no" "$(pings 10.8.0.1 3)" == 3

echo "# stop while connected"
tb_client_stop laptop
same_as_before "after stopping the daemon"

echo "# server-pushed routes (a control server that pushes; the real one does not push yet)"
# A minimal version-2 control server with the real server's certificate: it answers the request,
# pushes routes and DNS, answers a resume as resumed, and sends a second push once asked to
# (a file appears). There is no data plane behind it; the routes are what is checked.
cat >"$TB_RUN/push-server.py" <<'PYEOF'
import base64, json, os, socket, ssl, sys, time
pki, addr, port, trigger = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
routes = sys.argv[5].split(",")
routes2 = sys.argv[6].split(",")
lies = int(sys.argv[7]) if len(sys.argv) > 7 else 0  # fresh requests answered "resumed": true
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.num_tickets = 0
ctx.load_cert_chain(pki + "/server.pem", pki + "/server-key.pem")
ctx.load_verify_locations(pki + "/ca.pem")
ctx.verify_mode = ssl.CERT_REQUIRED
ls = socket.create_server((addr, port))
print("listening", flush=True)
send = lambda c, o: c.sendall(json.dumps(o, separators=(",", ":")).encode() + b"\n")
while True:
    raw, _ = ls.accept()
    try:
        c = ctx.wrap_socket(raw, server_side=True)
        buf = b""
        while b"\n" not in buf:
            d = c.recv(4096)
            if not d:
                raise EOFError
            buf += d
        req = json.loads(buf.split(b"\n")[0])
        buf = buf.split(b"\n", 1)[1]
        print("request", json.dumps(req, sort_keys=True), flush=True)
        resumed = "resume" in req
        if not resumed and lies > 0:
            lies -= 1
            resumed = True
        send(c, {"type": "response", "protocol": 2, "session_id": 4242, "udp_port": 8999,
                 "client_ip": "10.9.0.2", "client_prefix": 24, "client_ip6": "fd00:9::2",
                 "client_prefix6": 64, "mtu": 1400, "keepalive": 25, "resumed": resumed,
                 "resume_token": base64.b64encode(b"Z" * 32).decode()})
        send(c, {"type": "push", "routes": routes, "dns": ["10.9.0.1"]})
        c.settimeout(0.1)
        while True:
            if os.path.exists(trigger):
                os.unlink(trigger)
                routes = routes2
                send(c, {"type": "push", "routes": routes})
                print("pushed again", flush=True)
            try:
                d = c.recv(4096)
                if not d:
                    break
                buf += d
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    print("message", line.decode(), flush=True)
            except (socket.timeout, ssl.SSLWantReadError):
                pass
    except Exception as e:
        print("connection:", repr(e), flush=True)
    finally:
        raw.close()
PYEOF
PUSH_PORT=9443
tb_spawn push-server "$TB_P-s" "$TB_PY" -u "$TB_RUN/push-server.py" "$TB_RUN/server/state/pki" "$TB_SERVER_ADDR" \
        "$PUSH_PORT" "$TB_RUN/push-again" "10.77.0.0/16,fd77::/48,0.0.0.0/0,::/0,10.9.0.0/24,fd00:9::/64,10.77.0.0/16" "10.78.0.0/16"
tb_wait_for 10 grep -q listening "$TB_RUN/logs/push-server.log" || tb_die "push server did not start"
TB_CLIENT_CONF_EXTRA="Server=$TB_SERVER_ADDR:$PUSH_PORT" tb_client_config laptop up1,up2
sed -i "0,/^Server=$TB_SERVER_ADDR\$/{/^Server=$TB_SERVER_ADDR\$/d}" "$TB_RUN/client/etc/client/laptop.conf"
tb_client_start laptop
tb_cctl connect --ifaces up1,up2 || tb_die "connect to the pushing server failed"
pushed4() { ip -n "$C" -4 route show proto 70 dev flx-laptop; }
tb_wait_for 10 sh -c "ip -n '$C' -4 route show proto 70 dev flx-laptop | grep -q '^10\.77\.0\.0/16'"
tb_check "pushed IPv4 route into the tunnel, tagged" "$(count "$(pushed4)" '^10\.77\.0\.0/16 ')" == 1
tb_check "pushed IPv6 route into the tunnel, tagged" \
        "$(count "$(ip -n "$C" -6 route show proto 70 dev flx-laptop)" '^fd77::/48 ')" == 1
tb_check "pushed default: the /1 halves, once" "$(count "$(pushed4)" '^(0\.0\.0\.0|128\.0\.0\.0)/1 ')" == 2
tb_check "pushed IPv6 default: the /1 halves, once" \
        "$(count "$(ip -n "$C" -6 route show proto 70 dev flx-laptop)" '^(::|8000::)/1 ')" == 2
tb_check "pushed on-link prefix: the kernel's route kept" "$(count "$(pushed4)" '^10\.9\.0\.0/24 ')" == 0
tb_check "pushed on-link IPv6 prefix: the kernel's route kept" \
        "$(count "$(ip -n "$C" -6 route show proto 70 dev flx-laptop)" '^fd00:9::/64 ')" == 0
tb_check "pushed routes journaled" "$(grep -o '"oif"' "$TB_RUN/client/run/client/laptop.routes" | wc -l)" ">=" 7
tb_check "pushed DNS logged, not applied" "$(grep -c 'pushed 1 DNS server' "$TB_RUN/logs/client-laptop.log")" ">=" 1
touch "$TB_RUN/push-again"
tb_wait_for 10 sh -c "ip -n '$C' -4 route show proto 70 dev flx-laptop | grep -q '^10\.78\.0\.0/16'"
tb_check "a new push: its route installed" "$(count "$(pushed4)" '^10\.78\.0\.0/16 ')" == 1
tb_check "a new push: withdrawn route removed" "$(count "$(pushed4)" '^10\.77\.0\.0/16 ')" == 0
tb_check "a new push: withdrawn IPv6 route removed" \
        "$(count "$(ip -n "$C" -6 route show proto 70 dev flx-laptop)" '^fd77::/48 ')" == 0
tb_check "a new push: the default /1 halves stay" "$(count "$(pushed4)" '^(0\.0\.0\.0|128\.0\.0\.0)/1 ')" == 2
tb_check "a new push: the IPv6 default /1 halves stay (DefaultRoute=yes)" \
        "$(count "$(ip -n "$C" -6 route show proto 70 dev flx-laptop)" '^(::|8000::)/1 ')" == 2
tb_cctl disconnect || tb_check "fluxifyctl disconnect" 1 == 0
same_as_before "pushed routes removed on disconnect"
tb_client_stop laptop
tb_stop push-server

echo "# a resume granted for a session whose data keys the client does not hold is refused"
# The server answers the first (fresh) request with "resumed": true. Keying a tunnel from this
# connection would not match the keys a real server keeps across a resume: the client must say bye
# and ask again for a new session instead (the second request carries no resume).
: >"$TB_RUN/logs/push-server.log"
tb_spawn push-server "$TB_P-s" "$TB_PY" -u "$TB_RUN/push-server.py" "$TB_RUN/server/state/pki" "$TB_SERVER_ADDR" \
        "$PUSH_PORT" "$TB_RUN/push-again" "10.77.0.0/16" "10.77.0.0/16" 1
tb_wait_for 10 grep -q listening "$TB_RUN/logs/push-server.log" || tb_die "push server did not start"
tb_client_start laptop
tb_cctl connect --ifaces up1,up2 || tb_check "connect after a refused resume" 1 == 0
tb_wait_for 10 sh -c "[ \$(grep -c '^request' '$TB_RUN/logs/push-server.log') -ge 2 ]"
reqs=$(grep '^request' "$TB_RUN/logs/push-server.log")
tb_check "the bogus resume is refused with a bye" \
        "$(grep -c '^message .*"type":"bye".*resume without data keys' "$TB_RUN/logs/push-server.log")" == 1
tb_check "then a fresh request (no resume)" "$(sed -n 2p <<<"$reqs" | grep -c -v '"resume"')" == 1
tb_check "client logged the refusal" "$(grep -c 'its data keys are gone here' "$TB_RUN/logs/client-laptop.log")" == 1
tb_wait_client_state laptop connected 10
tb_expect "connected with the new session" "$(tb_client_prop laptop State)" connected
tb_cctl disconnect || tb_check "fluxifyctl disconnect" 1 == 0
same_as_before "after the refused resume"
tb_client_stop laptop
tb_stop push-server

# Sanitizer builds: the daemon's log (every start of this run) must hold no report.
tb_check "no sanitizer report in the client's log" \
        "$(grep -c -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$TB_RUN/logs/client-laptop.log")" == 0 ||
        grep -A20 -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$TB_RUN/logs/client-laptop.log"

[ "$TB_FAILURES" -eq 0 ]
