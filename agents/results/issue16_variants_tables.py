"""python agents/results/issue16_variants_tables.py: the tables of the RESULTS.md section of
2026-12-07 (issue #16, variants A-M) from issue16_variants_scores.csv (per-question greedy
score and tool calls of every run; baseline_s0-s2, untrained and heuristic are the V1,
untrained and heuristic columns of stop_repeat_3seeds_scores.csv, reproduced bit for bit for
seeds 0 and 1 in this session): scores pooled over each variant's seeds with bootstrap 95%
intervals, held-out per seed with tool calls, and paired differences against the baseline
on the same seeds (pooled, per seed)."""
import csv
from pathlib import Path
import numpy as np
from agents.rl.stats import interval, paired
R = ("constraint", "report", "numeric", "exhaustive", "procedure", "aggregate")
TRAIN, HELD = R[:2], R[2:]
rows = list(csv.DictReader(open(Path(__file__).with_name("issue16_variants_scores.csv"))))
order = [k for k in rows[0] if k not in ("regime", "task_id") and not k.endswith("_calls")]
S = {c: {r: [float(x[c]) for x in rows if x["regime"] == r] for r in R} for c in order}
C = {c: {r: [float(x[c + "_calls"]) for x in rows if x["regime"] == r] for r in R} for c in order}
sc = lambda s, rs, d=3: (lambda m, ci: f"{m:.{d}f} [{ci[0]:.{d}f}, {ci[1]:.{d}f}]")(
    np.mean([np.mean(s[r]) for r in rs]), interval(s, rs))
dif = lambda d: f"{d['diff']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}]"
mean = lambda cols, M=S: {r: list(np.mean([M[c][r] for c in cols], axis=0)) for r in R}
variants = list(dict.fromkeys(c.rsplit("_s", 1)[0] for c in order))
seeds = {v: [c for c in order if c == v or (c.startswith(v + "_s") and c[len(v) + 2:].isdigit())]
         for v in variants}
head = [f"{r}{'*' if r in HELD else ''}" for r in R] + ["held-out (n=400)"]
print("| variant (seeds) | " + " | ".join(head) + " | held-out per seed (calls) |\n" + "|---" * (len(head) + 2) + "|")
for v in variants:
    p = mean(seeds[v])
    per = ", ".join(f"{np.mean([np.mean(S[c][r]) for r in HELD]):.3f} ({np.mean([np.mean(C[c][r]) for r in HELD]):.1f})" for c in seeds[v])
    print(f"| {v} ({len(seeds[v])}) | " + " | ".join(sc(p, (r,)) for r in R) + f" | {sc(p, HELD)} | {per} |")
print("\nPaired differences against the baseline on the same seeds, pooled [95% paired bootstrap]; per seed\n")
print("| comparison | " + " | ".join(head) + " | train (n=200) | held-out per seed |\n" + "|---" * (len(head) + 3) + "|")
for v in variants:
    if v in ("baseline", "heuristic") or not seeds[v][0].startswith(v + "_s"):
        continue
    base = [f"baseline_s{c.rsplit('_s', 1)[1]}" for c in seeds[v]]
    pa, pb = mean(seeds[v]), mean(base)
    per = ", ".join(dif(paired(S[a], S[b], HELD)) for a, b in zip(seeds[v], base))
    print(f"| {v} - baseline (s{','.join(c.rsplit('_s', 1)[1] for c in seeds[v])}) | " + " | ".join(
        dif(paired(pa, pb, (r,))) for r in R) + f" | {dif(paired(pa, pb, HELD))} | {dif(paired(pa, pb, TRAIN))} | {per} |")
