"""python agents/results/stop_repeat_3seeds_tables.py [COMPARISONS...]: the tables of the
RESULTS.md section of 2026-12-07 (no-repeat rule, first-order arithmetic, tool cost) from
stop_repeat_3seeds_scores.csv (per-question greedy score and tool calls of every run): scores
and tool calls pooled over seeds with bootstrap 95% intervals, paired differences (pooled,
per seed, t over the 3 seeds). COMPARISONS like V1-baseline (default: the section's)."""
import csv, sys
from pathlib import Path
import numpy as np
from scipy import stats as st
from agents.rl.stats import interval, paired
R = ("constraint", "report", "numeric", "exhaustive", "procedure", "aggregate")
TRAIN, HELD = R[:2], R[2:]
out = Path(__file__).with_name("stop_repeat_3seeds_scores.csv")
DEFAULT = ("V1-baseline", "V2-V1", "V3-V1", "V4-V1", "V4-V3", "V1-untrained", "V3-untrained", "V1-heuristic", "V3-heuristic")
rows = list(csv.DictReader(open(out)))
order = [k for k in rows[0] if k not in ("regime", "task_id") and not k.endswith("_calls")]
S = {c: {r: [float(x[c]) for x in rows if x["regime"] == r] for r in R} for c in order}
C = {c: {r: [float(x[c + "_calls"]) for x in rows if x["regime"] == r] for r in R} for c in order}
def pooled(v, M=S):
    cols = [c for c in order if c == v or c.startswith(v + "_s")]
    return {r: list(np.mean([M[c][r] for c in cols], axis=0)) for r in R}, cols
def sc(s, rs, d=3):
    m = np.mean([np.mean(s[r]) for r in rs]); lo, hi = interval(s, rs)
    return f"{m:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]"
dif = lambda d: f"{d['diff']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}]"
variants = list(dict.fromkeys(c.split("_s")[0] for c in order))
head = [f"{r}{'*' if r in HELD else ''} (n=100)" for r in R] + ["train (n=200)", "held-out (n=400)"]
print("Scores (pooled over seeds) [95% bootstrap]\n")
print("| variant | " + " | ".join(head) + " | held-out per seed (n=400 each) [interval] |\n" + "|---" * (len(head) + 2) + "|")
for v in variants:
    p, cols = pooled(v)
    per = ", ".join(sc(S[c], HELD) for c in cols) if len(cols) > 1 else "(one run)"
    print(f"| {v} | " + " | ".join(sc(p, (r,)) for r in R) + f" | {sc(p, TRAIN)} | {sc(p, HELD)} | {per} |")
print("\nTool calls per question (pooled over seeds) [95% bootstrap]\n")
print("| variant | " + " | ".join(head) + " | held-out per seed |\n" + "|---" * (len(head) + 2) + "|")
for v in variants:
    p, cols = pooled(v, C)
    per = ", ".join(sc(C[c], HELD, 1) for c in cols) if len(cols) > 1 else "(one run)"
    print(f"| {v} | " + " | ".join(sc(p, (r,), 1) for r in R) + f" | {sc(p, TRAIN, 1)} | {sc(p, HELD, 1)} | {per} |")
print("\nPaired differences (pooled over seeds) [95% paired bootstrap]; per seed; t over seeds (df 2)\n")
print("| comparison | " + " | ".join(head) + " | held-out per seed | t over seeds |\n" + "|---" * (len(head) + 3) + "|")
for pair in sys.argv[1:] or DEFAULT:
    a, b = pair.split("-")
    pa, ca = pooled(a); pb, cb = pooled(b)
    cells = [dif(paired(pa, pb, (r,))) for r in R] + [dif(paired(pa, pb, TRAIN)), dif(paired(pa, pb, HELD))]
    per, tcell = "", ""
    if len(ca) == 3:
        ds = [paired(S[ca[s]], S[cb[s] if len(cb) == 3 else cb[0]], HELD) for s in range(3)]
        per = ", ".join(dif(d) for d in ds)
        x = [d["diff"] for d in ds]; m = np.mean(x); h = st.t.ppf(0.975, 2) * np.std(x, ddof=1) / np.sqrt(3)
        tcell = f"{m:+.3f} [{m - h:+.3f}, {m + h:+.3f}]"
    print(f"| {a} - {b} | " + " | ".join(cells) + f" | {per} | {tcell} |")
