#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# fluxifyctl's server commands against a running fluxifyd-server (and one connected client, for
# sessions): status, sessions, terminate, pki list/issue/revoke/regenerate-ca — output shape,
# --json through python's json module, exit codes, bundle file mode, the errors users meet. The
# namespaces, private buses and daemons come from the testbed library.
set -u
source "$(dirname "$0")/../netns/testbed/testbed.sh"
tb_init
tb_deadline 150
TB_FAILURES=0
NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"

# expect RC LABEL -- fluxifyctl ARGS...: run on the server's bus; stdout in $OUT, stderr in $ERR.
expect() {
        local want=$1 label=$2
        shift 3
        OUT=$(ip netns exec "$TB_P-s" env DBUS_SYSTEM_BUS_ADDRESS="$TB_BUS_S" "$@" 2>"$TB_RUN/stderr")
        RC=$?
        ERR=$(cat "$TB_RUN/stderr")
        tb_expect "$label (exit status)" "$RC" "$want" || echo "     stderr: $ERR"
}
contains() { tb_check "$3" "$(grep -c -F -- "$2" <<<"$1")" ">=" 1 || echo "     in: $1"; }
json_eval() { # TEXT EXPR LABEL
        tb_expect "$3" "$("$TB_PY" -c "import json,sys; j=json.load(sys.stdin); print(bool($2))" <<<"$1" 2>&1)" True
}

tb_up -n 1
tb_bins
tb_dbus_start s
CTL=$TB_CTL_BIN
BUNDLES=$TB_RUN/bundles
mkdir -p "$BUNDLES"
chmod 0755 "$TB_RUN"

expect 1 "sessions before the server runs" -- "$CTL" sessions
contains "$ERR" "fluxifyd-server is not running on the system bus" "no server: explained"
contains "$ERR" "systemctl start fluxify-server" "no server: says how to start it"

tb_server_start

echo "# status"
expect 0 "status" -- "$CTL" status
contains "$OUT" "fluxifyd-server" "status: server headline"
contains "$OUT" "State: running" "status: running"
contains "$OUT" "Tunnel: fluxify0 (10.8.0.1/24, fd00:8::1/64)" "status: tunnel and addresses"
contains "$OUT" "Ports: control 8443/tcp, data 8000/udp" "status: ports"
expect 0 "status --json" -- "$CTL" status --json
json_eval "$OUT" "j['server']['Manager']['State'] == 'running' and j['clients'] == []" "status --json: server, no clients"

echo "# pki"
expect 0 "pki list (empty)" -- "$CTL" pki list
tb_expect "pki list: legend only" "$OUT" "0 certificates listed."
expect 0 "pki issue alice" -- "$CTL" pki issue alice --days 30 --output "$BUNDLES/alice.bundle"
tb_expect "pki issue: nothing on stdout" "$OUT" ""
contains "$ERR" "mode 0600" "pki issue: says where and how"
tb_expect "bundle mode" "$(stat -c %a "$BUNDLES/alice.bundle")" 600
tb_expect "bundle: CA, certificate, key" "$(grep -c -- '-----BEGIN' "$BUNDLES/alice.bundle")" 3
contains "$(cat "$BUNDLES/alice.bundle")" "PRIVATE KEY-----" "bundle holds the key"
expect 1 "pki issue alice again" -- "$CTL" pki issue alice --output "$BUNDLES/alice2.bundle"
tb_expect "failed issue leaves no file" "$(ls "$BUNDLES/alice2.bundle" 2>/dev/null)" ""
expect 1 "pki issue onto an existing file" -- "$CTL" pki issue carol --output "$BUNDLES/alice.bundle"
contains "$ERR" "remove it or choose another --output" "existing file: explained"
expect 0 "pki issue to stdout" -- "$CTL" pki issue bob --output -
tb_expect "stdout bundle: three PEM blocks" "$(grep -c -- '-----BEGIN' <<<"$OUT")" 3
expect 0 "pki list" -- "$CTL" pki list
contains "$OUT" "NAME  SERIAL" "pki list: header"
contains "$OUT" "2 certificates listed." "pki list: legend"
tb_check "pki list: alice valid" "$(grep -c -E '^alice .* valid$' <<<"$OUT")" == 1
expect 0 "pki list --json" -- "$CTL" pki list --json
json_eval "$OUT" "sorted(c['Name'] for c in j) == ['alice', 'bob'] and all(not c['Revoked'] for c in j)" "pki list --json"
expect 0 "pki list --no-legend" -- "$CTL" pki list --no-legend
tb_expect "--no-legend: rows only" "$(wc -l <<<"$OUT")" 2
expect 1 "pki revoke as nobody" -- $NOBODY "$CTL" pki revoke alice
contains "$ERR" "permission denied" "nobody: permission denied"
expect 0 "pki revoke alice" -- "$CTL" pki revoke alice
expect 0 "pki list after revoke" -- "$CTL" pki list
tb_check "pki list: alice revoked" "$(grep -c -E '^alice .* revoked$' <<<"$OUT")" == 1
expect 1 "pki revoke unknown" -- "$CTL" pki revoke nosuch
contains "$ERR" "No certificate named 'nosuch'" "revoke unknown: explained"

echo "# sessions"
tb_client_config laptop up1
tb_client_start laptop
tb_cctl connect --ifaces up1 || tb_die "client connect failed"
tb_wait_client_state laptop connected 15 || tb_die "client did not connect"
expect 0 "sessions" -- "$CTL" sessions
contains "$OUT" "ID" "sessions: header"
tb_check "sessions: laptop listed" "$(grep -c -E '^ *[0-9]+ laptop +(up|active) ' <<<"$OUT")" == 1
contains "$OUT" "1 session listed." "sessions: legend"
echo "$OUT"
expect 0 "sessions --json" -- "$CTL" sessions --json
json_eval "$OUT" "len(j) == 1 and j[0]['ClientName'] == 'laptop' and len(j[0]['Connections']) == 1" "sessions --json"
id=$("$TB_PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["Id"])' <<<"$OUT")
expect 0 "sessions as nobody (reading is open)" -- $NOBODY "$CTL" sessions
expect 1 "terminate as nobody" -- $NOBODY "$CTL" terminate "$id"
expect 1 "terminate unknown" -- "$CTL" terminate 4000000000
contains "$ERR" "No session with ID 4000000000" "terminate unknown: explained"
expect 2 "terminate garbage" -- "$CTL" terminate 12x
expect 0 "terminate" -- "$CTL" terminate "$id"
expect 0 "sessions after terminate" -- "$CTL" sessions --json
json_eval "$OUT" "all(s['Id'] != $id for s in j)" "terminated session is gone"

echo "# regenerate-ca"
expect 2 "regenerate-ca without --yes" -- "$CTL" pki regenerate-ca
expect 1 "regenerate-ca as nobody" -- $NOBODY "$CTL" pki regenerate-ca --yes
fp1=$(busctl --address="$TB_BUS_S" get-property org.fluxify.server1 /org/fluxify/server1/pki org.fluxify.server1.PKI CAFingerprint)
expect 0 "regenerate-ca --yes" -- "$CTL" pki regenerate-ca --yes
fp2=$(busctl --address="$TB_BUS_S" get-property org.fluxify.server1 /org/fluxify/server1/pki org.fluxify.server1.PKI CAFingerprint)
tb_check "new CA fingerprint" "$([ "$fp1" != "$fp2" ] && echo 1 || echo 0)" == 1
tb_expect "server alive" "$(tb_alive server && echo yes)" yes

[ "$TB_FAILURES" -eq 0 ]
