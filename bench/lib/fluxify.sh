# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Fluxify side of the benchmark: server and one client profile ("bench") on the testbed, no
# rates set by hand. DefaultRoute=no so that OpenVPN and raw iperf3 runs of the same round are
# not routed into the Fluxify tunnel; the tunnel's own subnet reaches the server at 10.8.0.1.

FX_ADDR=10.8.0.1
FX_PROFILE=bench

fx_available() { tb_bins 2>/dev/null; }

fx_start() {
        TB_CLIENT_CONF_EXTRA="DefaultRoute=no" # last assignment wins in the profile
        tb_server_start
        tb_client_config "$FX_PROFILE" up1 weighted
        sed -i '/^DefaultRoute=yes$/d' "$TB_RUN/client/etc/client/$FX_PROFILE.conf"
        tb_client_start "$FX_PROFILE"
}

# fx_connect IFACES [SCHEDULER]: (re)connects over exactly these uplinks; waits until all are up.
fx_connect() {
        local ifaces=$1 sched=${2:-weighted} n
        n=$(tr ',' '\n' <<<"$ifaces" | wc -l)
        tb_cctl disconnect >/dev/null 2>&1
        tb_wait_client_state "$FX_PROFILE" idle 10 >/dev/null 2>&1
        if [ "${FX_CONNECT_MODE:-all}" = all ]; then
                tb_cctl connect --ifaces "$ifaces" --scheduler "$sched" >"$TB_RUN/logs/fx-connect.log" 2>&1 ||
                        { tb_log "fluxifyctl connect --ifaces $ifaces failed: $(cat "$TB_RUN/logs/fx-connect.log")"; return 1; }
        else
                # FX_CONNECT_MODE=incremental: connect over the first uplink, add the others live.
                local first=${ifaces%%,*} i
                tb_cctl connect --ifaces "$first" --scheduler "$sched" >"$TB_RUN/logs/fx-connect.log" 2>&1 ||
                        { tb_log "fluxifyctl connect --ifaces $first failed: $(cat "$TB_RUN/logs/fx-connect.log")"; return 1; }
                for i in ${ifaces//,/ }; do
                        [ "$i" = "$first" ] || tb_cctl add-iface "$i" >>"$TB_RUN/logs/fx-connect.log" 2>&1 ||
                                { tb_log "fluxifyctl add-iface $i failed"; return 1; }
                done
        fi
        fx_wait_paths_up "$n" 15 || return 1
        tb_wait_for 5 tb_c ping -c 1 -W 1 "$FX_ADDR" || { tb_log "no traffic through the Fluxify tunnel"; return 1; }
}

# Number of paths in state "up" according to `fluxifyctl paths --json`.
fx_paths_up() {
        tb_cctl paths --json=short 2>/dev/null | "$TB_PY" -c '
import json, sys
try:
    d = json.load(sys.stdin)
except Exception:
    print(0); sys.exit()
rows = d if isinstance(d, list) else d.get("paths", d.get("connections", []))
print(sum(1 for r in rows if str(r.get("state", r.get("State", ""))).lower() == "up"))'
}

fx_wait_paths_up() {
        local want=$1 timeout=${2:-15} k got=0
        for ((k = 0; k < timeout * 10; k++)); do
                got=$(fx_paths_up)
                [ "${got:-0}" -ge "$want" ] && return 0
                sleep 0.1
        done
        tb_log "only ${got:-0} of $want paths up after ${timeout}s"
        tb_cctl paths >&2
        return 1
}

fx_pids() { echo "$(tb_pid "client-$FX_PROFILE") $(tb_pid server)"; }
