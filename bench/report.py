#!/usr/bin/env python3
"""Turns bench/run-comparison's JSON lines into a table of ratios, the
issue's targets with whether this run met them, and a chart.

    bench/report.py RESULTS.jsonl OUTPUT_DIR [--no-chart]
"""
import json
import subprocess
import sys
from collections import defaultdict
from statistics import median_low as median


# tally's events/s over each peer's, at each one's best (docs/performance.md).
RATIO_TARGETS = {"postgres": 100, "redis": 20, "redis-pipelined": 5}


def main():
    runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    out = sys.argv[2]
    chart = "--no-chart" not in sys.argv[3:]
    by_label = defaultdict(dict)
    for run in runs:
        by_label[run["label"]][run["connections"]] = run

    best = {label: max(r["events_per_second"] for r in rows.values()) for label, rows in by_label.items()
            if "-at-" not in label}
    sweep = [label for label in by_label if "-at-" not in label and "-earn-only" not in label]
    lines = ["| system | best events/s | at connections | p99 µs there | exact |", "| --- | ---: | ---: | ---: | --- |"]
    for label, value in best.items():
        run = max(by_label[label].values(), key=lambda r: r["events_per_second"])
        exact = all(r["exact"] for r in by_label[label].values())
        lines.append(f"| {label} | {value:,.0f} | {run['connections']} | {run['latency_us']['p99']:,} | {exact} |")
    lines.append("")
    lines.append("| ratio (best events/s) | value |")
    lines.append("| --- | ---: |")
    for suffix in ("", "-earn-only", "-earn-only-after-sweep"):
        for peer in ("postgres", "redis", "redis-pipelined"):
            mine, theirs = "tally" + suffix, peer + suffix
            if theirs in best and mine in best and best[theirs] > 0:
                lines.append(f"| {mine} / {theirs} | {best[mine] / best[theirs]:,.1f}× |")
    lines.append("")
    lines.append("| at equal load (2,000 events/s, 8 threads calling), median of rounds | rounds | p50 µs | p99 µs "
                 "| p99 µs of each round | exact |")
    lines.append("| --- | ---: | ---: | ---: | --- | --- |")
    rounds = defaultdict(list)  # "tally-at-2000/s#2" is round 2 of tally's equal-load run
    for run in runs:
        if "-at-" in run["label"]:
            rounds[run["label"].split("#")[0]].append(run)
    median_p99 = {}
    p99_of_round = defaultdict(dict)  # system -> round -> p99, to pair the systems' runs of one round
    for label, taken in rounds.items():
        system = label.split("-at-")[0]
        for r in taken:
            p99_of_round[system][r["label"].split("#")[1]] = r["latency_us"]["p99"]
        p50 = median([r["latency_us"]["p50"] for r in taken])
        p99s = [r["latency_us"]["p99"] for r in taken]
        median_p99[system] = median(p99s)
        exact = all(r["exact"] for r in taken)
        lines.append(f"| {label} | {len(taken)} | {p50:,} | {median(p99s):,} | "
                     f"{', '.join(f'{p:,}' for p in p99s)} | {exact} |")
    lines.append("")
    lines.append("| target (this run) | measured | met |")
    lines.append("| --- | ---: | --- |")
    for suffix, mix in (("", "default mix"), ("-earn-only", "earns only")):
        for peer, target in RATIO_TARGETS.items():
            mine, theirs = "tally" + suffix, peer + suffix
            if theirs in best and mine in best and best[theirs] > 0:
                ratio = best[mine] / best[theirs]
                lines.append(f"| tally ≥ {target}× {peer}, {mix} | {ratio:,.1f}× | {'yes' if ratio >= target else 'no'} |")
    # "tally" is judged; other ways of driving it ("tally-8-clients") are told too.
    for variant in sorted(label for label in median_p99 if label.startswith("tally")):
        for peer in ("postgres", "redis"):
            if peer in median_p99:
                mine, theirs = median_p99[variant], median_p99[peer]
                # The verdict is the medians'; how many rounds each way tells how close it was.
                paired = [(p99, p99_of_round[peer][n]) for n, p99 in p99_of_round[variant].items()
                          if n in p99_of_round[peer]]
                lower = sum(own <= other for own, other in paired)
                lines.append(f"| {variant}'s p99 ≤ {peer}'s at equal load (median round) | {mine:,} µs against "
                             f"{theirs:,} µs (no higher in {lower} of {len(paired)} rounds) | "
                             f"{'yes' if mine <= theirs else 'no'} |")
    lines.append(f"| every run exact | {sum(r['exact'] for r in runs)} of {len(runs)} runs | "
                 f"{'yes' if all(r['exact'] for r in runs) else 'no'} |")
    table = "\n".join(lines)
    print(table)
    open(f"{out}/comparison.md", "w").write(table + "\n")

    if not chart:
        return
    data = f"{out}/comparison.dat"
    with open(data, "w") as handle:
        for label in sweep:
            rows = by_label[label]
            handle.write(f"# {label}\n")
            for connections in sorted(rows):
                run = rows[connections]
                handle.write(f"{connections} {run['events_per_second']:.0f} {run['latency_us']['p99']}\n")
            handle.write("\n\n")
    labels = sweep
    plots_throughput = ", ".join(
        f"'{data}' index {i} using 1:2 with linespoints title '{label}'" for i, label in enumerate(labels))
    plots_latency = ", ".join(
        f"'{data}' index {i} using 1:($3/1000) with linespoints title '{label}'" for i, label in enumerate(labels))
    script = f"""
set terminal svg size 1000,420 font 'sans,11' background rgb 'white'
set output '{out}/comparison.svg'
set multiplot layout 1,2
set logscale xy
set xlabel 'client connections'
set key left top
set title 'durable events/s (higher is better)'
set ylabel 'events/s'
plot {plots_throughput}
set title 'p99 latency of a call (tally: 4 requests of 1,024 commands; redis-pipelined: 64)'
set ylabel 'ms'
plot {plots_latency}
unset multiplot
"""
    subprocess.run(["gnuplot"], input=script.encode(), check=True)
    print(f"chart: {out}/comparison.svg")


if __name__ == "__main__":
    main()
