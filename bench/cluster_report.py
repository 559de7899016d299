#!/usr/bin/env python3
"""bench/cluster_report.py: bench/cluster.sh's rounds as one table.

    cluster_report.py WORKDIR OUT.json OUT.md TAG...

Each TAG (rR-hub, rR-nchan) is one setup in one round; WORKDIR holds its
TAG-info.json, TAG-n.json (loadclient, N listeners on two fronts),
TAG-posts.json (loadclient, posts/s), TAG-cpu-{redis,hubs,nginx}.json and
TAG-pcpu-*.json (sampler cpu over the delivery and over posts/s) and
TAG-redis.json (Redis commands during each).  The run's facts come from the
C_* variables cluster.sh sets.

First / last listener: per message, the latency of the first and of the
last of the N listeners to read it, medians over the messages (the post
path, then the fan-out).  Per round: both setups' figures; then per setup the medians over the rounds
(lost and duplicates summed), and the median of the per-round p99 ratios
hub / nchan: the issue's target (0 lost, p99 <= nchan + Redis's p99 in the
same run) is checked against that median, never asserted.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import fmt, get, load, median as med  # noqa: E402

TARGET_RATIO = 1.0
PARTS = ("redis", "hubs", "nginx")


def cpu(work, tag, step):
    return {p: get(load(os.path.join(work, f"{tag}-{step}-{p}.json")), "pct_one_core")
            for p in PARTS}


def figures(work, tag):
    n = load(os.path.join(work, f"{tag}-n.json")) or {}
    posts = load(os.path.join(work, f"{tag}-posts.json")) or {}
    info = load(os.path.join(work, f"{tag}-info.json")) or {}
    redis = load(os.path.join(work, f"{tag}-redis.json")) or {}
    d = n.get("delivery", {})
    fronts = n.get("fronts", [])
    ok_n = get(n, "posts", "ok")
    ok_p = get(posts, "posts", "ok")
    try:
        with open(os.path.join(work, f"{tag}-events.log")) as f:
            hub_log = sum(1 for _ in f)
    except OSError:
        hub_log = None
    # per message: [status, id, listeners reached, first, last latency ms]
    pm = [m for m in n.get("per_message", []) if m[2] > 0]
    return {
        "first_listener": med([m[3] for m in pm]), "last_listener": med([m[4] for m in pm]),
        "mode": info.get("mode"), "round": info.get("round"), "load": info.get("load"),
        "opened": get(n, "listeners", "opened"), "n": get(n, "config", "n"),
        "p50": get(d, "latency_ms", "p50"), "p99": get(d, "latency_ms", "p99"),
        "max": get(d, "latency_ms", "max"),
        "fronts": [{"listeners": f.get("listeners"), "lost": f.get("lost"),
                    "duplicates": f.get("duplicates"),
                    "p50": get(f, "latency_ms", "p50"), "p99": get(f, "latency_ms", "p99")}
                   for f in fronts],
        "expected": d.get("expected"), "delivered": d.get("delivered"),
        "lost": d.get("lost"), "dup": d.get("duplicates"), "ooo": d.get("out_of_order"),
        "reconnects": get(n, "listeners", "reconnects"),
        "posts_ok": ok_n, "posts_requested": get(n, "posts", "requested"),
        "post_p50": get(n, "posts", "response_ms", "p50"),
        "posts_per_s": get(posts, "posts", "ok_per_s"),
        "posts_failed": get(posts, "posts", "failed"),
        "cpu_delivery": cpu(work, tag, "cpu"), "cpu_posts": cpu(work, tag, "pcpu"),
        "redis_cmds_per_post": (redis["delivery"] / ok_n
                                if redis.get("delivery") and ok_n else None),
        "redis_cmds_per_post_bench": (redis["posts"] / ok_p
                                      if redis.get("posts") and ok_p else None),
        "hub_log_lines": hub_log,
    }


def cpu_cell(c):
    return " / ".join(fmt(c.get(p)) for p in PARTS)


def main():
    work, out_json, out_md = sys.argv[1:4]
    env = os.environ
    rounds = {}
    for tag in sys.argv[4:]:
        f = figures(work, tag)
        rounds.setdefault(f["round"], {})[f["mode"]] = f
    res = {
        "date": env.get("C_DATE"), "nproc": int(env.get("C_NPROC", "0")),
        "cpu": env.get("C_CPU"), "kernel": env.get("C_KERNEL"),
        "commit": env.get("C_COMMIT"), "elapsed_s": int(env.get("C_ELAPSED", "0")),
        "loadavg_start": env.get("C_LOAD_START"), "loadavg_end": env.get("C_LOAD_END"),
        "limits": env.get("C_LIMITS"), "appendfsync": env.get("C_APPENDFSYNC", "always"),
        "nginx": env.get("C_NGINX"), "nchan": env.get("C_NCHAN"), "redis": env.get("C_REDIS"),
        "settings": {"n": int(env.get("C_N", "2000")), "rate_per_s": float(env.get("C_RATE", "5")),
                     "post_seconds": int(env.get("C_POST_S", "20")),
                     "posters": int(env.get("C_POSTERS", "8")),
                     "post_bench_seconds": int(env.get("C_POST_BENCH_S", "10")),
                     "post_fcgi_per_front": int(env.get("C_POST_F", "4")),
                     "rounds": int(env.get("C_ROUNDS", "3"))},
        "rounds": {str(k): v for k, v in sorted(rounds.items())},
    }
    s = res["settings"]
    L = [f"Two fronts on one Redis (`make bench-cluster`, bench/cluster.sh), {res['date']},"
         f" commit {res['commit']}, {res['nproc']} CPUs ({res['cpu']}), kernel {res['kernel']},"
         f" nginx {res['nginx']} (1 worker per front), nchan {res['nchan']}, Redis {res['redis']}"
         f" (appendonly yes, appendfsync {res['appendfsync']}); load average {res['loadavg_start']} at the"
         f" start, {res['loadavg_end']} at the end; limits: {res['limits']}; {res['elapsed_s']} s.",
         "",
         f"N = {s['n']} listeners, listener i on front i mod 2; {s['rate_per_s']:g} posts/s"
         f" for {s['post_seconds']} s, all posted on front A; posts/s: {s['posters']} posters"
         f" over both fronts for {s['post_bench_seconds']} s (hub: post.fcgi"
         f" -F {s['post_fcgi_per_front']} per front).  CPU: % of one core, Redis / hubs"
         " (events.fcgi + post.fcgi, both fronts) / nginx (both; nchan's work is in nginx).",
         "",
         "| round | setup | p50 / p99 ms | p99 front A / B ms | first / last listener ms"
         " | lost | dup | out of order"
         " | posts/s | CPU during delivery | CPU during posts/s | Redis commands per post"
         " (delivery, posts/s) | load at start |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    ratios = []
    for r, by in sorted(rounds.items()):
        for mode in ("hub", "nchan"):
            f = by.get(mode)
            if f is None:
                continue
            fa = f["fronts"] + [{}, {}]
            L.append(f"| {r} | {mode} | {fmt(f['p50'])} / {fmt(f['p99'])}"
                     f" | {fmt(fa[0].get('p99'))} / {fmt(fa[1].get('p99'))}"
                     f" | {fmt(f['first_listener'])} / {fmt(f['last_listener'])}"
                     f" | {f['lost']} | {f['dup']} | {f['ooo']} | {fmt(f['posts_per_s'])}"
                     f" | {cpu_cell(f['cpu_delivery'])} | {cpu_cell(f['cpu_posts'])}"
                     f" | {fmt(f['redis_cmds_per_post'])}, {fmt(f['redis_cmds_per_post_bench'])}"
                     f" | {f['load']} |")
        h, c = by.get("hub"), by.get("nchan")
        if h and c and h["p99"] and c["p99"]:
            ratios.append(h["p99"] / c["p99"])
    L += ["", "| setup | p50 ms | p99 ms | first / last listener ms | lost (all rounds)"
          " | dup (all rounds) | posts/s"
          " | CPU during delivery | CPU during posts/s |", "|---|---|---|---|---|---|---|---|---|"]
    summary = {}
    for mode in ("hub", "nchan"):
        fs = [by[mode] for by in rounds.values() if mode in by]
        if not fs:
            continue
        m = {"p50": med([f["p50"] for f in fs]), "p99": med([f["p99"] for f in fs]),
             "first_listener": med([f["first_listener"] for f in fs]),
             "last_listener": med([f["last_listener"] for f in fs]),
             "lost": sum(f["lost"] or 0 for f in fs) if all(f["lost"] is not None for f in fs)
             else None,
             "dup": sum(f["dup"] or 0 for f in fs), "posts_per_s": med([f["posts_per_s"] for f in fs]),
             "cpu_delivery": {p: med([f["cpu_delivery"][p] for f in fs]) for p in PARTS},
             "cpu_posts": {p: med([f["cpu_posts"][p] for f in fs]) for p in PARTS},
             "rounds": len(fs)}
        summary[mode] = m
        L.append(f"| **{mode}** (median of {len(fs)}) | {fmt(m['p50'])} | {fmt(m['p99'])}"
                 f" | {fmt(m['first_listener'])} / {fmt(m['last_listener'])}"
                 f" | {fmt(m['lost'])} | {m['dup']} | {fmt(m['posts_per_s'])}"
                 f" | {cpu_cell(m['cpu_delivery'])} | {cpu_cell(m['cpu_posts'])} |")
    ratio = med(ratios)
    summary["p99_ratio_per_round"] = ratios
    summary["p99_ratio_median"] = ratio
    hub = summary.get("hub", {})
    met = (ratio is not None and ratio <= TARGET_RATIO and hub.get("lost") == 0
           and hub.get("dup") == 0)
    L += ["", f"p99 hub / nchan per round: {', '.join(fmt(x, 2) for x in ratios) or 'n/a'};"
          f" median **{fmt(ratio, 2)}**. Target (0 lost, no duplicate, p99 <= nchan + Redis's"
          f" p99 in the same run): **{'met' if met else 'missed'}**."]
    res["summary"] = summary
    with open(out_json, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    with open(out_md, "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
