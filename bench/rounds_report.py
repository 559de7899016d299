#!/usr/bin/env python3
"""bench/rounds_report.py: bench/rounds.sh's rounds as one table.

    rounds_report.py DIR OUT.json OUT.md TAG...

Each TAG is a vps.sh run (DIR/vps-TAG.json) of the hub and nchan at one N.
Per N: each round's figures, the medians over the rounds, and the median
of the per-round ratios hub p99 / nchan p99 (a ratio taken within one
round compares two setups on the same machine minutes apart; the median
of those ratios is what the target is checked against, never asserted).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import fmt, get, median as med  # noqa: E402

TARGET_RATIO = 1.3


def figures(run, mode):
    c = get(run, "modes", mode, "n") or {}
    return {q: get(c, "delivery", "latency_ms", q) for q in ("p50", "p99")} | {
        "lost": get(c, "delivery", "lost"), "dup": get(c, "delivery", "duplicates"),
        "delivered": get(c, "delivery", "delivered"),
        "expected": get(c, "delivery", "expected")}


def main():
    d, out_json, out_md = sys.argv[1:4]
    by_n = {}
    for tag in sys.argv[4:]:
        with open(os.path.join(d, f"vps-{tag}.json")) as f:
            run = json.load(f)
        n = run["settings"]["n"]
        by_n.setdefault(n, []).append({
            "tag": tag, "date": run.get("date"), "commit": run.get("commit"),
            "load": [run.get("loadavg_start"), run.get("loadavg_end")],
            "hub": figures(run, "hub"), "nchan": figures(run, "nchan")})
    L = ["| N | round | hub p50 / p99 | nchan p50 / p99 | p99 hub / nchan"
         " | lost (hub, nchan) | load at start |", "|---|---|---|---|---|---|---|"]
    summary = {}
    for n, rounds in sorted(by_n.items()):
        ratios = []
        for i, r in enumerate(rounds, 1):
            h, c = r["hub"], r["nchan"]
            ratio = h["p99"] / c["p99"] if h["p99"] and c["p99"] else None
            r["ratio"] = ratio
            ratios.append(ratio)
            L.append(f"| {n} | {i} | {fmt(h['p50'])} / {fmt(h['p99'])} ms"
                     f" | {fmt(c['p50'])} / {fmt(c['p99'])} ms | {fmt(ratio, 2)}"
                     f" | {h['lost']}, {c['lost']} | {r['load'][0]} |")
        s = {"hub_p50": med([r["hub"]["p50"] for r in rounds]),
             "hub_p99": med([r["hub"]["p99"] for r in rounds]),
             "nchan_p50": med([r["nchan"]["p50"] for r in rounds]),
             "nchan_p99": med([r["nchan"]["p99"] for r in rounds]),
             "ratio": med(ratios),
             "hub_lost": sum(r["hub"]["lost"] or 0 for r in rounds),
             "rounds": len(rounds)}
        summary[n] = s
        met = s["ratio"] is not None and s["ratio"] <= TARGET_RATIO and s["hub_lost"] == 0
        L.append(f"| **{n}** | **median of {len(rounds)}** | {fmt(s['hub_p50'])} / "
                 f"{fmt(s['hub_p99'])} ms | {fmt(s['nchan_p50'])} / {fmt(s['nchan_p99'])} ms"
                 f" | **{fmt(s['ratio'], 2)}** ({'met' if met else 'missed'}: <= {TARGET_RATIO})"
                 f" | {s['hub_lost']} lost by the hub in all | |")
    with open(out_json, "w") as f:
        json.dump({"by_n": by_n, "summary": summary}, f, indent=1)
        f.write("\n")
    with open(out_md, "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
