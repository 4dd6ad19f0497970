#!/usr/bin/env python3
"""variants_report.py — the table of scripts/variants.sh from its recorded JSON reports.

Reads DIR/<sparsity>/<run>/seed<k>.json (each a `leap prune --output_path` report with an `eval`
perplexity) and prints, per sparsity, one Markdown row per run: perplexity mean ± standard error over
seeds, the per-seed values, the achieved sparsity, the mean prune time, and the run minus plain LEAP
paired by seed (mean ± s.e. of the per-seed differences, over the seeds both have). It computes
nothing else and refuses a report without a perplexity.

Usage: python3 scripts/variants_report.py DIR
"""
import json
import math
import sys
from pathlib import Path

# the order of scripts/variants.sh; runs not listed here follow alphabetically
ORDER = ["wanda", "wanda+owl", "sparsegpt", "admm", "admm+owl", "leap", "leap+distill",
         "leap+owl", "leap+reconstruct-admm", "leap+distill+owl", "leap@390steps", "leap@340steps"]


def mean_se(xs):
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return m, float("nan")
    var = sum((x - m) ** 2 for x in xs) / (len(xs) - 1)
    return m, math.sqrt(var / len(xs))


def fmt(m, se, sign=""):
    v = f"{m:{sign}.2f}".replace("-", "−")
    return v if math.isnan(se) else f"{v} ± {se:.2f}"


def load_run(run_dir):
    """{seed: report} of one run's recorded reports."""
    reports = {}
    for f in sorted(run_dir.glob("seed*.json")):
        r = json.loads(f.read_text())
        if not isinstance(r.get("eval"), dict) or "ppl" not in r["eval"]:
            sys.exit(f"variants_report.py: {f}: no eval.ppl (run leap prune with --eval_ppl_file)")
        reports[int(r["seed"])] = r
    return reports


def table(sparsity_dir):
    runs = {d.name: load_run(d) for d in sparsity_dir.iterdir() if d.is_dir()}
    runs = {k: v for k, v in runs.items() if v}
    names = sorted(runs, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    base = runs.get("leap", {})
    lines = [f"| run ({sparsity_dir.name}) | ppl (mean ± s.e.) | per seed | n | achieved sparsity | "
             "time | − leap, paired by seed |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for name in names:
        rep = runs[name]
        seeds = sorted(rep)
        ppl = [rep[s]["eval"]["ppl"] for s in seeds]
        m, se = mean_se(ppl)
        achieved = sum(rep[s]["achieved_sparsity"]["overall"] for s in seeds) / len(seeds)
        secs = sum(rep[s]["prune_seconds"] for s in seeds) / len(seeds)
        common = [s for s in seeds if s in base]
        paired = "–"
        if name != "leap" and common:
            paired = fmt(*mean_se([rep[s]["eval"]["ppl"] - base[s]["eval"]["ppl"] for s in common]), sign="+")
        per_seed = ", ".join(f"{p:.2f}" for p in ppl)
        lines.append(f"| {name} | {fmt(m, se)} | {per_seed} | {len(seeds)} | {achieved:.4f} | "
                     f"{secs:.1f} s | {paired} |")
    return "\n".join(lines)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: variants_report.py DIR")
    root = Path(sys.argv[1])
    if not root.is_dir():
        sys.exit(f"variants_report.py: {root}: no such folder (nothing recorded yet?)")
    for sparsity_dir in sorted(d for d in root.iterdir() if d.is_dir()):
        print(table(sparsity_dir))
        print()


if __name__ == "__main__":
    main()
