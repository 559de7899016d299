#!/usr/bin/env python3
"""bench/vps_report.py: bench/vps.sh's step results as one side-by-side table.

    vps_report.py WORKDIR OUT.json OUT.md

WORKDIR holds MODE-info.json, MODE-n.json (loadclient), MODE-mem0.json and
MODE-memN.json and MODE-cpu.json (sampler), hub-posts.json.  The run's facts
come from the V_* environment variables vps.sh sets.  Per listener = (memory
of the server processes with N idle streams - without streams) / N.

The issue's targets for the hub (events.fcgi --listen behind nginx) are
checked, never asserted: N = 300: p99 <= 1.5 x nchan's p99 of the same run,
private memory <= 32 KiB per listener, idle CPU <= 0.5 % of a core,
0 lost / dup / out of order; N = 10000: 0 lost, p99 <= 100 ms at 1 post/s,
memory <= 32 KiB per listener.
"""
import json
import os
import sys

# load, get and fmt: the same reading and formatting as the main report.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import fmt, get, load  # noqa: E402


def med(v):
    v = sorted(v)
    return v[(len(v) - 1) // 2] if v else None


def verdict(ok):
    if ok is None:
        return "n/a"
    return "met" if ok else "**missed**"


NAMES = {
    "hub": "(a) events.fcgi --listen behind nginx",
    "nchan": "(b) nginx + nchan",
    "fcgid": "(c) Apache, one process per listener (fcgid mode)",
}


def main():
    work, out_json, out_md = sys.argv[1:4]
    env = os.environ
    modes = env.get("V_MODES", "hub nchan fcgid").split()
    n = int(env.get("V_N", "300"))
    res = {
        "date": env.get("V_DATE"), "nproc": int(env.get("V_NPROC", "0")),
        "cpu": env.get("V_CPU"), "kernel": env.get("V_KERNEL"),
        "commit": env.get("V_COMMIT"), "elapsed_s": int(env.get("V_ELAPSED", "0")),
        "loadavg_start": env.get("V_LOAD_START"), "loadavg_end": env.get("V_LOAD_END"),
        "nginx": env.get("V_NGINX"), "nchan": env.get("V_NCHAN"),
        "settings": {"n": n, "rate_per_s": float(env.get("V_RATE", "5")),
                     "post_seconds": int(env.get("V_POST_S", "10")),
                     "idle_seconds": int(env.get("V_IDLE_S", "30")),
                     "posters": int(env.get("V_POSTERS", "8")),
                     "post_fcgi_processes": int(env.get("V_POST_F", "4")),
                     "nginx_workers": int(env.get("V_WORKERS", "1")),
                     "stall_n": int(env.get("V_STALL_N", "100")),
                     "stall_rate": float(env.get("V_STALL_RATE", "100")),
                     "stall_seconds": int(env.get("V_STALL_S", "30"))},
        "modes": {},
    }
    for mode in modes:
        m = {k: load(os.path.join(work, f"{mode}-{k}.json"))
             for k in ("info", "n", "mem0", "memN", "cpu")}
        if mode == "hub":
            m["posts"] = load(os.path.join(work, "hub-posts.json"))
            m["stall"] = [load(os.path.join(work, f"hub-stall{k}.json")) for k in (0, 1)]
            m["stall_hub_ended"] = []
            for k in (0, 1):   # cumulative counts of the hub's log line
                try:
                    with open(os.path.join(work, f"hub-stall{k}.hub-ended")) as f:
                        m["stall_hub_ended"].append(int(f.read().strip() or 0))
                except (OSError, ValueError):
                    m["stall_hub_ended"].append(None)
            try:
                with open(os.path.join(work, "hub-events.log")) as f:
                    m["hub_log"] = f.read()[-2000:]
            except OSError:
                m["hub_log"] = None
        per = None
        if m["mem0"] and m["memN"] and n > 0:
            per = {k: (m["memN"][k] - m["mem0"][k]) / n
                   for k in ("private_kib", "pss_kib", "rss_kib")}
        m["per_listener"] = per
        res["modes"][mode] = m
    with open(out_json, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")

    s = res["settings"]
    rows = {}
    for mode in modes:
        m = res["modes"][mode]
        c = m["n"] or {}
        per = m["per_listener"] or {}
        rows[mode] = {
            "open": get(c, "listeners", "opened"),
            "p50": get(c, "delivery", "latency_ms", "p50"),
            "p90": get(c, "delivery", "latency_ms", "p90"),
            "p99": get(c, "delivery", "latency_ms", "p99"),
            "max": get(c, "delivery", "latency_ms", "max"),
            "delivered": get(c, "delivery", "delivered"),
            "expected": get(c, "delivery", "expected"),
            "lost": get(c, "delivery", "lost"),
            "dup": get(c, "delivery", "duplicates"),
            "ooo": get(c, "delivery", "out_of_order"),
            "idm": get(c, "delivery", "id_differs_from_201"),
            "priv": per.get("private_kib"), "pss": per.get("pss_kib"),
            "cpu": get(m, "cpu", "pct_one_core"),
            "timed_out": c.get("timed_out"),
            "cfb99": get(c, "listeners", "connect_to_first_byte_ms", "p99"),
            "post_p50": get(c, "posts", "response_ms", "p50"),
            "first_p50": med([x[3] for x in (c.get("per_message") or [])
                              if len(x) > 4 and x[3] is not None and x[3] >= 0]),
            "last_p50": med([x[4] for x in (c.get("per_message") or [])
                             if len(x) > 4 and x[4] is not None and x[4] >= 0]),
        }

    L = []
    L.append(f"Run {res['date']}, {res['nproc']} CPUs ({res['cpu']}), Linux {res['kernel']},"
             f" {res['nginx']}, nchan {res['nchan']}; commit {res['commit']};"
             f" {res['elapsed_s']} s. Load average {res['loadavg_start']} at the start,"
             f" {res['loadavg_end']} at the end (the machine is shared).")
    L.append("")
    L.append(f"N = {n} listeners on one channel, {s['rate_per_s']:g} posts/s for"
             f" {s['post_seconds']} s; nginx with {s['nginx_workers']} worker process(es);"
             f" memory = (server processes with N idle streams - without) / N; CPU = those"
             f" processes over {s['idle_seconds']} s with N idle streams.")
    L.append("")
    L.append("| setup | streams open | delivered / expected | lost | dup | out of order"
             " | p50 | p90 | p99 | max | private / PSS per listener | idle CPU |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mode in modes:
        r = rows[mode]
        to = " (timed out)" if r["timed_out"] else ""
        mem = (f"{r['priv']:.1f} / {r['pss']:.1f} KiB" if r["priv"] is not None else "n/a")
        L.append(f"| {NAMES.get(mode, mode)} | {fmt(r['open'])}/{n}{to}"
                 f" | {fmt(r['delivered'])} / {fmt(r['expected'])} | {fmt(r['lost'])}"
                 f" | {fmt(r['dup'])} | {fmt(r['ooo'])} | {fmt(r['p50'])} ms"
                 f" | {fmt(r['p90'])} ms | {fmt(r['p99'])} ms | {fmt(r['max'])} ms"
                 f" | {mem} | {fmt(r['cpu'], 2)} % |")
    L.append("")
    L.append("Where the latency goes (medians over the messages): the POST's own answer"
             " (which, for ours, includes the SQLite COMMIT with its fsync), the first"
             " listener reached, the last listener reached:")
    L.append("")
    L.append("| setup | POST answered p50 | first listener p50 | last listener p50 |")
    L.append("|---|---:|---:|---:|")
    for mode in modes:
        r = rows[mode]
        L.append(f"| {mode} | {fmt(r['post_p50'], 2)} ms | {fmt(r['first_p50'], 2)} ms"
                 f" | {fmt(r['last_p50'], 2)} ms |")
    L.append("")
    if "hub" in modes:
        p = res["modes"]["hub"].get("posts") or {}
        if p:
            L.append(f"Posts/s, {s['posters']} closed-loop posters, post.fcgi as"
                     f" {s['post_fcgi_processes']} long-lived FastCGI processes (spawn-fcgi)"
                     f" behind nginx: {fmt(get(p, 'posts', 'ok_per_s'))}"
                     f" ({fmt(get(p, 'posts', 'failed'))} failed).")
            L.append("")
        st = [x or {} for x in (res["modes"]["hub"].get("stall") or [])]
        if len(st) == 2 and st[0] and st[1]:
            L.append(f"A stalled reader: {s['stall_n']} listeners, {s['stall_rate']:g} posts/s"
                     f" with 1900 more characters each, {s['stall_seconds']} s, hub behind nginx;"
                     " once alone, once with one more stream that sends its GET and never reads:")
            L.append("")
            he = res["modes"]["hub"].get("stall_hub_ended") or [None, None]
            L.append("| run | delivered / expected | lost | p50 | p90 | p99 | max"
                     " | streams the hub ended (its log) | stalled stream: end seen by the client,"
                     " bytes it got |")
            L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
            for k, c in enumerate(st):
                lat = lambda q: fmt(get(c, "delivery", "latency_ms", q))
                by_hub = he[k] - (he[0] or 0) if k and he[k] is not None else he[k]
                seen = (f"{fmt(get(c, 'stalled', 'ended'))} of {fmt(get(c, 'stalled', 'count'))},"
                        f" {fmt(get(c, 'stalled', 'bytes'))}" if k else "")
                L.append(f"| {'one stalled' if k else 'none stalled'}"
                         f" | {fmt(get(c, 'delivery', 'delivered'))} / {fmt(get(c, 'delivery', 'expected'))}"
                         f" | {fmt(get(c, 'delivery', 'lost'))} | {lat('p50')} ms | {lat('p90')} ms"
                         f" | {lat('p99')} ms | {lat('max')} ms | {fmt(by_hub)} | {seen} |")
            a = get(st[0], "delivery", "latency_ms", "p99")
            b = get(st[1], "delivery", "latency_ms", "p99")
            if a and b and a > 0:
                L.append("")
                L.append(f"p99 with the stalled reader / without: {fmt(b / a, 2)}.")
            L.append("")
        h, nc = rows.get("hub"), rows.get("nchan")
        L.append("Targets for (a), measured, not asserted:")
        L.append("")
        L.append("| target | (a) | verdict |")
        L.append("|---|---:|---|")
        big = n >= 10000
        if h is not None:
            zero = None if h["lost"] is None else (h["lost"] == 0 and h["dup"] == 0 and h["ooo"] == 0)
            L.append(f"| 0 lost / dup / out of order | {fmt(h['lost'])} / {fmt(h['dup'])} /"
                     f" {fmt(h['ooo'])} | {verdict(zero)} |")
            if big:
                ok = None if h["p99"] is None or h["p99"] < 0 else h["p99"] <= 100
                L.append(f"| p99 <= 100 ms | {fmt(h['p99'])} ms | {verdict(ok)} |")
            if nc is not None and nc["p99"] is not None and nc["p99"] > 0:
                ratio = h["p99"] / nc["p99"] if h["p99"] and h["p99"] > 0 else None
                ok = None if ratio is None else ratio <= 1.5
                L.append(f"| p99 <= 1.5 x nchan's p99 ({fmt(nc['p99'])} ms) |"
                         f" {fmt(h['p99'])} ms ({fmt(ratio, 2)} x) | {verdict(ok)} |")
            ok = None if h["priv"] is None else h["priv"] <= 32
            L.append(f"| private memory <= 32 KiB per listener | {fmt(h['priv'])} KiB"
                     f" (PSS {fmt(h['pss'])}) | {verdict(ok)} |")
            if not big:
                ok = None if h["cpu"] is None else h["cpu"] <= 0.5
                L.append(f"| idle CPU <= 0.5 % of a core | {fmt(h['cpu'], 2)} % | {verdict(ok)} |")
        L.append("")
    with open(out_md, "w") as f:
        f.write("\n".join(L))


if __name__ == "__main__":
    main()
