# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# OpenVPN 2.6 side of the benchmark: ECDSA P-256 certificates made with certtool at bench time,
# point-to-point TLS mode (no "mode server"), AES-256-GCM, UDP, TUN, the "tuned" variant of
# research/anchors-performance.md §3 (sndbuf/rcvbuf 4 MiB, txqueuelen 1000, fast-io), DCO off.
# Runs over uplink 1: the client binds 172.16.1.2 (source routing keeps it on up1 whatever else
# is routed) and reaches the server's public address; the tunnel is 10.250.1.2 → 10.250.1.1.

OVPN_ADDR=10.250.1.1

ovpn_certs() {
        local d=$1
        mkdir -p "$d"
        (
                cd "$d" || exit 1
                printf 'cn = "fluxify bench CA"\nca\ncert_signing_key\nexpiration_days = 2\n' >ca.tmpl
                printf 'cn = "server"\ntls_www_server\nsigning_key\nexpiration_days = 2\n' >server.tmpl
                printf 'cn = "client"\ntls_www_client\nsigning_key\nexpiration_days = 2\n' >client.tmpl
                for k in ca server client; do
                        certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 --outfile "$k.key" 2>/dev/null
                done
                certtool --generate-self-signed --load-privkey ca.key --template ca.tmpl --outfile ca.crt
                for k in server client; do
                        certtool --generate-certificate --load-privkey "$k.key" --load-ca-certificate ca.crt \
                                --load-ca-privkey ca.key --template "$k.tmpl" --outfile "$k.crt"
                done
        ) >"$d/certtool.log" 2>&1 || tb_die "certtool failed: $(tail -5 "$d/certtool.log")"
}

ovpn_start() {
        command -v openvpn >/dev/null || tb_die "openvpn missing (tools/install-deps)"
        local d=$TB_RUN/openvpn
        ovpn_certs "$d"
        local common="dev-type tun
proto udp4
data-ciphers AES-256-GCM
disable-dco
keepalive 10 60
sndbuf 4194304
rcvbuf 4194304
txqueuelen 1000
fast-io
verb 3
ca $d/ca.crt"
        cat >"$d/server.conf" <<EOF
dev ovs0
$common
local $TB_SERVER_ADDR
lport 1195
ifconfig 10.250.1.1 10.250.1.2
tls-server
dh none
cert $d/server.crt
key $d/server.key
EOF
        cat >"$d/client.conf" <<EOF
dev ovc0
$common
remote $TB_SERVER_ADDR 1195
local 172.16.1.2
lport 1195
ifconfig 10.250.1.2 10.250.1.1
tls-client
remote-cert-tls server
cert $d/client.crt
key $d/client.key
EOF
        tb_spawn ovpn-server "$TB_P-s" openvpn --config "$d/server.conf"
        tb_spawn ovpn-client "$TB_P-c" openvpn --config "$d/client.conf"
        local k
        for ((k = 0; k < 150; k++)); do
                grep -q 'Initialization Sequence Completed' "$TB_RUN/logs/ovpn-client.log" 2>/dev/null &&
                        grep -q 'Initialization Sequence Completed' "$TB_RUN/logs/ovpn-server.log" 2>/dev/null && break
                tb_alive ovpn-client && tb_alive ovpn-server || tb_die "openvpn exited"
                sleep 0.1
        done
        tb_wait_for 5 tb_c ping -c 1 -W 1 "$OVPN_ADDR" || tb_die "OpenVPN tunnel does not pass traffic"
        grep -o "Data Channel: cipher '[^']*'" "$TB_RUN/logs/ovpn-client.log" | head -n1
}
