#!/usr/bin/env python3
"""bench/report.py: assembles bench/run.sh's step results into one report.

    report.py WORKDIR OUT.json OUT.md [README.md]

WORKDIR holds the JSON each tool wrote (MODE-n<N>.json from loadclient,
MODE-mem<N>.json and MODE-cpu.json from sampler, MODE-posts.json, cgi.json
from postbench).  The run's facts come from B_* environment variables set by
run.sh.  Writes the combined JSON and a markdown table, and replaces the part
of README.md between "<!-- bench:latest:begin -->" and
"<!-- bench:latest:end -->" with the same table.
"""
import json
import os
import statistics
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def median(v):
    """The median of the figures present (None: absent), or None: the
    middle one, or the mean of the middle two (statistics.median)."""
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def fmt(v, digits=1, unit=""):
    if v is None or (isinstance(v, (int, float)) and v < 0):
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}{unit}"
    return f"{v}{unit}"


def verdict(ok):
    if ok is None:
        return "n/a"
    return "pass" if ok else "**FAIL**"


def main():
    work, out_json, out_md = sys.argv[1:4]
    readme = sys.argv[4] if len(sys.argv) > 4 else None
    env = os.environ
    modes = env.get("B_MODES", "fcgid cgid").split()
    ns = [int(n) for n in env.get("B_NS", "10 100 300").split()]
    max_n = int(env.get("B_MAX_N", max(ns) if ns else 0))
    result = {
        "date": env.get("B_DATE"), "arch": env.get("B_ARCH"),
        "nproc": int(env.get("B_NPROC", "0")), "commit": env.get("B_COMMIT"),
        "cpu": env.get("B_CPU"), "kernel": env.get("B_KERNEL"),
        "apache": env.get("B_APACHE"), "elapsed_s": int(env.get("B_ELAPSED", "0")),
        "loadavg_start": env.get("B_LOAD_START"), "loadavg_end": env.get("B_LOAD_END"),
        "settings": {
            "rate_per_s": float(env.get("B_RATE", "5")),
            "post_seconds": int(env.get("B_POST_S", "10")),
            "idle_seconds": int(env.get("B_IDLE_S", "30")),
            "posters": int(env.get("B_POSTERS", "8")),
            "post_bench_seconds": int(env.get("B_POST_BENCH_S", "10")),
            "max_request_workers": int(env.get("B_MAX_WORKERS", "400")),
            "sse_conf": ["rate_limit = 0", "max_streams = 0"],
        },
        "modes": {},
        "plain_cgi": load(os.path.join(work, "cgi.json")),
        "plain_cgi_static": load(os.path.join(work, "cgi-static.json")),
    }
    for mode in modes:
        m = {"info": load(os.path.join(work, f"{mode}-info.json")),
             "mem0": load(os.path.join(work, f"{mode}-mem0.json")),
             "runs": {},
             "cpu_idle": load(os.path.join(work, f"{mode}-cpu.json")),
             "posts": load(os.path.join(work, f"{mode}-posts.json")),
             "mem_after_posts": load(os.path.join(work, f"{mode}-mem-after-posts.json"))}
        for n in ns:
            run = load(os.path.join(work, f"{mode}-n{n}.json"))
            mem = load(os.path.join(work, f"{mode}-mem{n}.json"))
            per = None
            if mem and m["mem0"] and n > 0:
                per = {
                    "private_kib": (mem["private_kib"] - m["mem0"]["private_kib"]) / n,
                    "pss_kib": (mem["pss_kib"] - m["mem0"]["pss_kib"]) / n,
                    "rss_kib": (mem["rss_kib"] - m["mem0"]["rss_kib"]) / n,
                }
            m["runs"][str(n)] = {"client": run, "mem": mem, "per_listener": per}
        result["modes"][mode] = m

    with open(out_json, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")

    s = result["settings"]
    lines = []
    lines.append(f"Run {result['date']} on {result['arch']}, {result['nproc']} CPUs"
                 f" ({result['cpu']}), Linux {result['kernel']}, {result['apache']};"
                 f" commit {result['commit']}; {result['elapsed_s']} s in all."
                 f" Load average (1/5/15 min) {result['loadavg_start']} at the start,"
                 f" {result['loadavg_end']} at the end: other work on the machine"
                 f" shows in every figure.")
    lines.append("")
    lines.append(f"Settings: `rate_limit = 0`, `max_streams = 0`, other keys at their"
                 f" defaults; Apache event MPM with MaxRequestWorkers"
                 f" {s['max_request_workers']}, everything else as scripts/apache.sh sets it."
                 f" {s['rate_per_s']:g} posts/s for {s['post_seconds']} s per row."
                 f" In both modes events.fcgi runs as plain CGI under mod_cgid (the shipped"
                 f" .htaccess does so because mod_fcgid buffers output); the modes differ in"
                 f" post.fcgi: FastCGI (mod_fcgid, persistent processes) or CGI.")
    lines.append("")
    lines.append("| mode | N | streams open | delivered / expected | lost | dup | out of order"
                 " | latency p50 | p90 | p99 | max | first byte p50 / p99"
                 " | per listener: private / PSS |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mode in modes:
        for n in ns:
            r = result["modes"][mode]["runs"][str(n)]
            c = r["client"]
            if not c or "listeners" not in c:
                lines.append(f"| {mode} | {n} | not run | | | | | | | | | | |")
                continue
            d, L = c["delivery"], c["listeners"]
            lat = d["latency_ms"]
            per = r["per_listener"]
            mem = (f"{per['private_kib']:.0f} / {per['pss_kib']:.0f} KiB" if per else "n/a")
            note = " (timed out)" if c.get("timed_out") else ""
            lines.append(
                f"| {mode} | {n} | {L['opened']}/{n}{note} | {d['delivered']} / {d['expected']}"
                f" | {d['lost']} | {d['duplicates']} | {d['out_of_order']}"
                f" | {fmt(lat['p50'])} ms | {fmt(lat['p90'])} ms | {fmt(lat['p99'])} ms"
                f" | {fmt(lat['max'])} ms"
                f" | {fmt(L['connect_to_first_byte_ms']['p50'])} / "
                f"{fmt(L['connect_to_first_byte_ms']['p99'])} ms | {mem} |")
    lines.append("")

    # figures against the targets (the targets are for fcgid, N = max)
    def fig(mode):
        m = result["modes"].get(mode, {})
        r = m.get("runs", {}).get(str(max_n), {})
        c = r.get("client") or {}
        per = r.get("per_listener") or {}
        cpu = m.get("cpu_idle") or {}
        posts = m.get("posts") or {}
        return {
            "p50": get(c, "delivery", "latency_ms", "p50"),
            "p99": get(c, "delivery", "latency_ms", "p99"),
            "lost": get(c, "delivery", "lost"),
            "dup": get(c, "delivery", "duplicates"),
            "ooo": get(c, "delivery", "out_of_order"),
            "priv": per.get("private_kib"),
            "pss": per.get("pss_kib"),
            "cpu": cpu.get("pct_one_core"),
            "pps": get(posts, "posts", "ok_per_s"),
            "pfail": get(posts, "posts", "failed"),
            "pok": get(posts, "posts", "ok"),
        }
    F = {mode: fig(mode) for mode in modes}
    cgi = result["plain_cgi"] or {}
    cgi_p50 = get(cgi, "ms", "p50")

    def row(name, target, key, check, digits=1, unit=""):
        cells = []
        for mode in modes:
            v = F[mode][key]
            cells.append(fmt(v, digits, unit))
        v = F.get("fcgid", {}).get(key)
        ok = None if v is None else check(v)
        lines.append(f"| {name} | {target} | " + " | ".join(cells) + f" | {verdict(ok)} |")

    lines.append(f"Against the targets (N = {max_n}, {s['rate_per_s']:g} posts/s;"
                 " the verdict is for fcgid mode):")
    lines.append("")
    lines.append("| figure | target | " + " | ".join(modes) + " | fcgid verdict |")
    lines.append("|---|---|" + "---:|" * len(modes) + "---|")
    row("delivery latency p50", "≤ 10 ms", "p50", lambda v: v <= 10, 1, " ms")
    row("delivery latency p99", "≤ 30 ms", "p99", lambda v: v <= 30, 1, " ms")
    lines.append("| lost / duplicates / out of order | 0 / 0 / 0 | "
                 + " | ".join(f"{fmt(F[m]['lost'])} / {fmt(F[m]['dup'])} / {fmt(F[m]['ooo'])}"
                              for m in modes)
                 + " | " + verdict(None if F.get('fcgid', {}).get('lost') is None else
                                   F['fcgid']['lost'] == 0 and F['fcgid']['dup'] == 0
                                   and F['fcgid']['ooo'] == 0) + " |")
    row("private memory per listener", "≤ 384 KiB", "priv", lambda v: v <= 384, 0, " KiB")
    row("PSS per listener", "(for scale)", "pss", lambda v: None, 0, " KiB")
    row(f"CPU of {max_n} idle listeners over {s['idle_seconds']} s", "≤ 2 % of one core", "cpu",
        lambda v: v <= 2, 2, " %")
    lines.append(f"| posts/s, {s['posters']} concurrent posters, {s['post_bench_seconds']} s"
                 " (failed) | ≥ 500, all 201 | "
                 + " | ".join(f"{fmt(F[m]['pps'])} ({fmt(F[m]['pfail'])})" for m in modes)
                 + " | " + verdict(None if F.get('fcgid', {}).get('pps') is None else
                                   F['fcgid']['pps'] >= 500 and F['fcgid']['pfail'] == 0) + " |")
    lines.append(f"| post.fcgi as plain CGI, median (p90) | ≤ 5 ms | "
                 + " | ".join(f"{fmt(cgi_p50, 2)} ({fmt(get(cgi, 'ms', 'p90'), 2)}) ms"
                              if i == 0 else "(same binary)" for i, _ in enumerate(modes))
                 + f" | {verdict(None if cgi_p50 is None else cgi_p50 <= 5)} |")
    if cgi:
        lines.append("")
        lines.append(f"post.fcgi as plain CGI: the answer was back after"
                     f" {fmt(get(cgi, 'answer_ms', 'p50'), 2)} ms (median), the process had"
                     f" ended after {fmt(get(cgi, 'ms', 'p50'), 2)} ms. For scale: fork + exec +"
                     f" wait of /bin/true, timed alternately, took"
                     f" {fmt(get(cgi, 'bin_true_ms', 'p50'), 2)} ms (median).")
    st = result["plain_cgi_static"]
    if st and "ms" in st:
        lines.append(f"The static build (make static) of post.fcgi, measured the same way:"
                     f" median {fmt(get(st, 'ms', 'p50'), 2)} ms, p90"
                     f" {fmt(get(st, 'ms', 'p90'), 2)} ms (/bin/true"
                     f" {fmt(get(st, 'bin_true_ms', 'p50'), 2)} ms).")
    md = "\n".join(lines) + "\n"
    with open(out_md, "w") as f:
        f.write("# sse-cgi benchmark: latest results\n\n")
        f.write("Written by `make bench` (bench/run.sh); see bench/README.md for what each"
                " figure means.\n\n")
        f.write(md)

    if readme and os.path.exists(readme):
        with open(readme) as f:
            text = f.read()
        begin, end = "<!-- bench:latest:begin -->", "<!-- bench:latest:end -->"
        a, b = text.find(begin), text.find(end)
        if a >= 0 and b > a:
            text = text[:a + len(begin)] + "\n" + md + text[b:]
            with open(readme, "w") as f:
                f.write(text)


if __name__ == "__main__":
    main()
