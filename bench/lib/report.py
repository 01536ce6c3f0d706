#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Turns bench/run's results.jsonl into the ratio tables: printed, and written into
docs/benchmarks.md (from bench/lib/benchmarks.md.in) unless --doc is omitted.

Medians over rounds; ratios are taken per round first, then the median of the ratios
(research/anchors-performance.md: "Ratios are taken per round, then the median is taken")."""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
from collections import defaultdict


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=1, suffix=""):
    return "–" if x is None else f"{x:.{nd}f}{suffix}"


def runs(xs, nd=0):
    xs = [x for x in xs if x is not None]
    return "/".join(f"{x:.{nd}f}" for x in xs)


def bar(ok):
    return "" if ok is None else (" ✔" if ok else " ✘")


def load(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def section_a(res):
    rows = [r for r in res if r.get("scenario") == "unshaped"]
    if not rows:
        return None
    by = defaultdict(list)
    for r in rows:
        by[(r["system"], r["streams"])].append(r)
    lines = ["| system | TCP P=1 Mbit/s (runs) | TCP P=4 Mbit/s (runs) | CPU s/GB P=1 (client + server) "
             "| ÷ OpenVPN P=1 | ÷ OpenVPN P=4 | CPU/GB ÷ OpenVPN |",
             "|---|---|---|---|---|---|---|"]
    ratios = {}

    def per_round(sysname, p, key):
        a = {r["round"]: r for r in by.get((sysname, p), [])}
        b = {r["round"]: r for r in by.get(("openvpn", p), [])}
        xs = []
        for k in a:
            if k in b and key(b[k]):
                xs.append(key(a[k]) / key(b[k]))
        return med(xs)

    def cpu_gb(r):
        gb = r.get("bytes", 0) / 1e9
        return (r["cpu_client_s"] + r["cpu_server_s"]) / gb if gb > 0 else None

    for s in ("raw", "openvpn", "fluxify"):
        if (s, 1) not in by and (s, 4) not in by:
            continue
        m1 = [r["mbps"] for r in by.get((s, 1), [])]
        m4 = [r["mbps"] for r in by.get((s, 4), [])]
        cpu = med([cpu_gb(r) for r in by.get((s, 1), [])]) if s != "raw" else None
        r1 = per_round(s, 1, lambda r: r["mbps"]) if s == "fluxify" else None
        r4 = per_round(s, 4, lambda r: r["mbps"]) if s == "fluxify" else None
        rc = per_round(s, 1, lambda r: cpu_gb(r) or 0) if s == "fluxify" else None
        ratios[s] = (r1, r4, rc)
        lines.append(f"| {s} | **{fmt(med(m1))}** ({runs(m1)}) | **{fmt(med(m4))}** ({runs(m4)}) | {fmt(cpu, 2)} "
                     f"| {fmt(r1, 2)}{bar(None if r1 is None else r1 >= 2)} | {fmt(r4, 2)} "
                     f"| {fmt(rc, 2)}{bar(None if rc is None else rc <= 0.5)} |")
    return "\n".join(lines), ratios


BARS_B = {"2x50": 0.90, "3x50": 0.90, "4x50": 0.90, "80+20": 0.85, "2x50-loss2": 0.80, "2x50-rtt10-40": 0.85}


def section_b(res):
    rows = [r for r in res if r.get("sum_mbps") and r.get("scenario") not in ("unshaped",)]
    if not rows:
        return None
    scen = []
    for r in rows:
        if r["scenario"] not in scen:
            scen.append(r["scenario"])
    lines = ["| scenario | sum | Fluxify P=1 (of sum) | Fluxify P=4 (of sum) | OpenVPN P=1, best path | raw, best path "
             "| Fluxify P=1 of achievable | Fluxify ÷ OpenVPN (P=1) | bar (P=1) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in scen:
        rs = [r for r in rows if r["scenario"] == s]
        total = rs[0]["sum_mbps"]

        def m(sysname, p):
            return med([r["mbps"] for r in rs if r["system"] == sysname and r["streams"] == p])

        f1, f4, o1, w1 = m("fluxify", 1), m("fluxify", 4), m("openvpn", 1), m("raw", 1)
        fr = {r["round"]: r["mbps"] for r in rs if r["system"] == "fluxify" and r["streams"] == 1}
        orr = {r["round"]: r["mbps"] for r in rs if r["system"] == "openvpn" and r["streams"] == 1}
        ratio = med([fr[k] / orr[k] for k in fr if k in orr and orr[k] > 0])
        b = BARS_B.get(s)
        ok = None if f1 is None or b is None else (f1 / total >= b and (w1 is None or f1 >= 0.95 * w1))
        frac = lambda x: "–" if x is None else f"{x:.1f} ({x / total:.2f})"
        # Achievable: the sum scaled by what raw TCP gets of path 1's nominal rate (tbf, headers).
        p1 = rs[0].get("path1_mbps") or 0
        ach = (f1 / (total * w1 / p1)) if (f1 and w1 and p1) else None
        lines.append(f"| {s} | {total:g} | **{frac(f1)}** | {frac(f4)} | {fmt(o1)} | {fmt(w1)} | {fmt(ach, 2)} "
                     f"| {fmt(ratio, 2)} | {'≥ %.2f' % b if b else ''}{bar(ok)} |")
    return "\n".join(lines)


def section_c(res):
    rows = [r for r in res if r.get("scenario") == "failover"]
    if not rows:
        return None
    lines = ["| scheduler | direction | largest delivery gap, ms (runs) | probes lost (runs) | bar |",
             "|---|---|---|---|---|"]
    for sched in ("weighted", "redundant"):
        for d in ("c2s", "s2c"):
            rs = [r for r in rows if r["scheduler"] == sched and r["dir"] == d]
            if not rs:
                continue
            gaps = [r.get("max_gap_ms") for r in rs]
            lost = [r.get("lost") for r in rs]
            if sched == "weighted":
                g = med(gaps)
                b = f"gap ≤ 300 ms{bar(None if g is None else g <= 300)}"
            else:
                lm = med(lost)
                b = f"0 lost{bar(None if lm is None else lm == 0)}"
            lines.append(f"| {sched} | {d} | **{fmt(med(gaps))}** ({runs(gaps)}) | **{fmt(med(lost), 0)}** "
                         f"({runs(lost)}) | {b} |")
    return "\n".join(lines)


def section_d(res):
    rows = [r for r in res if r.get("scenario") == "footprint"]
    if not rows:
        return None
    r = rows[-1]
    idle = r.get("rss_idle_kib", 0) / 1024
    loaded = r.get("rss_loaded_kib", 0) / 1024
    want, seen, up = r.get("sessions_wanted", 0), r.get("sessions_seen", 0), r.get("paths_up", 0)
    lg = r.get("loadgen", {})
    ok = seen >= want and up >= 4 * want and want >= 250
    mib = lambda k: r.get(k, 0) / 1024
    return ("| measure | server RSS | PSS | anonymous | sessions / paths up | bar |\n|---|---|---|---|---|---|\n"
            f"| idle, no session | **{idle:.1f} MiB** | {mib('pss_idle_kib'):.1f} MiB | {mib('anon_idle_kib'):.1f} MiB "
            f"| 0 | RSS ≤ 8 MiB{bar(idle <= 8 if idle else None)} |\n"
            f"| {want} sessions × 4 paths | **{loaded:.1f} MiB** | {mib('pss_loaded_kib'):.1f} MiB "
            f"| {mib('anon_loaded_kib'):.1f} MiB | {seen} / {up} | ≥ 250 × 4{bar(ok)} |\n\n"
            "RSS counts the shared libraries' resident pages in full (GnuTLS, libc, libnftables, "
            "libsystemd… about 6.5 MiB of shared clean pages at idle); PSS shares them out; anonymous "
            "is the daemon's own heap and stacks.\n\n"
            f"Load: `bench/lib/loadgen.py`, protocol version 1 clients (Python has no TLS exporter for "
            f"version 2; the server keeps the same Session, lease, engine and path objects), set up in "
            f"{lg.get('setup_seconds', '?')} s, each path sending a heartbeat every 2 s; "
            f"{lg.get('n_errors', '?')} set-up errors.")


def progress_line(r):
    if r.get("scenario") == "failover":
        return (f"  failover {r['scheduler']:<9} {r['dir']} round {r['round']}: max gap {r.get('max_gap_ms')} ms, "
                f"lost {r.get('lost')}/{r.get('expected')}")
    extra = f" ({r['mbps'] / r['sum_mbps']:.2f} of sum)" if r.get("sum_mbps") else ""
    cpu = f", CPU c/s {r['cpu_client_s']:.1f}/{r['cpu_server_s']:.1f} s" if r["system"] != "raw" else ""
    err = "  ERROR: " + r["error"].strip().splitlines()[-1] if r.get("error") else ""
    return (f"  {r['scenario']:<14} {r['system']:<8} P={r['streams']} round {r['round']}: {r['mbps']:8.1f} Mbit/s"
            f"{extra}{cpu}, busy {r['sysbusy']:.0%}{err}")


def machine():
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=5).stdout.strip()
        except Exception:
            return "?"
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    ovpn = sh("openvpn --version | head -n1 | cut -d' ' -f1-2")
    iperf = sh("iperf3 --version | head -n1")
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}); {ovpn}, {iperf}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--notes")
    ap.add_argument("--command", default="bench/run")
    ap.add_argument("--commit", default="unknown")
    ap.add_argument("--rounds", default="3")
    ap.add_argument("--time", default="10")
    ap.add_argument("--doc")
    ap.add_argument("--template")
    ap.add_argument("--print-last", type=int, help="print the last N results as progress lines")
    a = ap.parse_args()
    res = load(a.results)
    if a.print_last:
        for r in res[-a.print_last:]:
            print(progress_line(r))
        return
    notes = []
    if a.notes and os.path.exists(a.notes):
        notes = [l.strip() for l in open(a.notes) if l.strip()]
    parts = []

    def busy(pred):
        b = med([r.get("sysbusy") for r in res if pred(r)])
        return "" if b is None else f"\n\nBoth cores were busy {b:.0%} of the time during these runs (median)."
    sa = section_a(res)
    if sa:
        parts.append("### (a) One unshaped path, TCP\n\n" + sa[0] +
                     "\n\nCPU s/GB: user+system seconds of both VPN processes (client + server) per GB received "
                     "by iperf3 (the omitted first second burns CPU too, for every system alike)." +
                     busy(lambda r: r.get("scenario") == "unshaped"))
    sb = section_b(res)
    if sb:
        parts.append("### (b) Aggregation (no rates set by hand)\n\n" + sb +
                     "\n\nOpenVPN and raw use path 1, the best single path of each scenario; "
                     "\"of sum\" is the fraction of the sum of the nominal path rates; \"of achievable\" divides by "
                     "that sum scaled by the raw single-path goodput ÷ its nominal rate (what TCP can get through "
                     "these tbf buckets, about 0.95). The bar applies to the fraction of the sum." +
                     busy(lambda r: bool(r.get("sum_mbps"))))
    sc = section_c(res)
    if sc:
        parts.append("### (c) Failover: path 1 of 2 × 50 Mbit/s blackholed for 2 s under bulk TCP\n\n" + sc +
                     "\n\nA 10 ms probe stream in each direction; the gap is the largest interval between two "
                     "deliveries (10 ms when nothing is lost).")
    sd = section_d(res)
    if sd:
        parts.append("### (d) Footprint\n\n" + sd)
    if notes:
        parts.append("### Notes from this run\n\n" + "\n".join(f"- {n}" for n in notes))
    body = "\n\n".join(parts) if parts else "_No results._"
    print()
    print(body)
    if sa and "fluxify" in sa[1]:
        r1, r4, rc = sa[1]["fluxify"]
        print(f"\nRatios (a): Fluxify ÷ OpenVPN throughput P=1 {fmt(r1, 2)}, P=4 {fmt(r4, 2)}; "
              f"CPU per GB {fmt(rc, 2)}")
    if a.doc and a.template:
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        t = open(a.template).read()
        t = (t.replace("@COMMAND@", a.command).replace("@DATE@", now).replace("@MACHINE@", machine())
             .replace("@COMMIT@", a.commit).replace("@ROUNDS@", str(a.rounds)).replace("@TIME@", str(a.time)).replace("@RESULTS@", body))
        with open(a.doc, "w") as f:
            f.write(t)
        print(f"\nWrote {a.doc}")


if __name__ == "__main__":
    main()
