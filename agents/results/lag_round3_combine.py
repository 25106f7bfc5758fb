"""Combine the round-3 lag grids (agents/results/lag_round3.md) into lag_round3.{csv,png} and print the table.

Run from the repository root: LAG_ROUND3_DIR=OUT python agents/results/lag_round3_combine.py
"""
import csv, json, sys
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from agents.rl.lag_experiment import t_interval
import os
H = Path(os.environ.get("LAG_ROUND3_DIR", "/work/scratch/h17"))  # the grids' --out parent
from scipy.stats import t as student_t


def welch(a, b):
    """mean(a) - mean(b) and its 95% Welch t-interval (Welch-Satterthwaite degrees of freedom)."""
    a, b = np.asarray(a), np.asarray(b)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    h = student_t.ppf(0.975, df) * np.sqrt(va + vb)
    d = a.mean() - b.mean()
    return d, d - h, d + h


def paired(a, b):
    """mean(a - b) over the same seeds and its 95% t-interval: a seed fixes the initial
    policy, the questions and every episode seed, so the runs of one seed differ only by lag."""
    d = np.asarray(a) - np.asarray(b)
    h = student_t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return d.mean(), d.mean() - h, d.mean() + h
SRC = [("base", None), ("is2", "oapl-is"), ("learn2", "oapl-learner"), ("is0", "oapl-is"),
       ("is14", "oapl-is"), ("grpo14", None), ("more_base_oapl", None),
       ("more_learn2", "oapl-learner"), ("more_is2", "oapl-is"), ("more_grpo", None),
       ("isnorm2", "oapl-is-norm"), ("more_isnorm2", "oapl-is-norm"), ("more_beh2", None),
       # seeds 6-9 (OAPL lag 0, learner-is and behaviour at lag 2, GRPO at 0 and 2) and seeds
       # 3-5 at lags 1 and 4 (learner-is, GRPO)
       ("more2_base_oapl", None), ("more2_is2", "oapl-is"), ("more2_grpo", None),
       ("more2_beh2", None), ("more_is14", "oapl-is"), ("more_grpo14", None),
       # seeds 10-13 (OAPL lag 0, learner-is at lag 2)
       ("more3_base_oapl", None), ("more3_is2", "oapl-is")] + [(a, b or None) for a, b in
       [x.split("=") for x in sys.argv[1:]]]
rows = []
for d, var in SRC:
    f = H / d / "lag.csv"
    if not f.exists():
        continue
    curves = {(c["algo"], c["lag"], c["seed"]): c["curve"] for c in map(json.loads, open(H / d / "lag_curves.jsonl"))}
    for r in csv.DictReader(open(f)):
        v = var or (r["algo"] if r["algo"] == "grpo" else "oapl-behaviour")
        rows.append(dict(variant=v, algo=r["algo"], lag=int(r["lag"]), seed=int(r["seed"]),
                         eval_score=float(r["eval_score"]), final_reward=float(r["final_reward"]),
                         seconds=float(r["seconds"]), source=d,
                         is_weight_mean=r.get("is_weight_mean", ""),
                         curve=curves[(r["algo"], int(r["lag"]), int(r["seed"]))]))
out = Path(__file__).resolve().parent
with open(out / "lag_round3.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=[k for k in rows[0] if k != "curve"], extrasaction="ignore")
    w.writeheader(); w.writerows(rows)
order = ["oapl-behaviour", "oapl-learner", "oapl-is", "oapl-is-norm", "grpo"]
names = {"oapl-behaviour": "OAPL, behaviour anchor", "oapl-learner": "OAPL, learner anchor",
         "oapl-is": "OAPL, learner-is (default at lag > 0)",
         "oapl-is-norm": "OAPL, learner-is, normalised weights",
         "grpo": "GRPO"}
base0 = {}
for v in order:
    xs = [r["eval_score"] for r in rows if r["variant"] == v and r["lag"] == 0]
    if xs: base0[v] = np.mean(xs)
# the anchor variants share the lag-0 objective (identical up to rounding); their lag-0 row
# for the comparison is the behaviour run unless they have their own
lines = ["| variant | lag | final eval score [95% CI] | n | per seed | train reward, last 4 iterations [95% CI] | change vs lag 0 [95% CI] | paired by seed [95% CI] |",
         "|---|---|---|---|---|---|---|---|"]
for v in order:
    for lag in sorted({r["lag"] for r in rows if r["variant"] == v}):
        if lag == 0 and v.startswith("oapl-") and v != "oapl-behaviour":
            continue  # the same objective as the behaviour anchor at lag 0 (checked: is0)
        sel = [r for r in rows if r["variant"] == v and r["lag"] == lag]
        m, lo, hi = t_interval([r["eval_score"] for r in sel])
        bv = "grpo" if v == "grpo" else "oapl-behaviour"
        b = base0[bv]
        b0 = [r["eval_score"] for r in rows if r["variant"] == bv and r["lag"] == 0]
        rel = pair = ""
        if lag != 0:
            d, dlo, dhi = welch([r["eval_score"] for r in sel], b0)
            rel = f"{100 * d / b:+.0f}% [{100 * dlo / b:+.0f}%, {100 * dhi / b:+.0f}%]"
            by_seed = {r["seed"]: r["eval_score"] for r in rows
                       if r["variant"] == bv and r["lag"] == 0}
            both = [r for r in sel if r["seed"] in by_seed]
            if len(both) >= 2:
                d, dlo, dhi = paired([r["eval_score"] for r in both],
                                     [by_seed[r["seed"]] for r in both])
                pair = (f"{100 * d / b:+.0f}% [{100 * dlo / b:+.0f}%, {100 * dhi / b:+.0f}%]"
                        + (f" (n = {len(both)})" if len(both) != len(sel) else ""))
        tm, tlo, thi = t_interval([float(np.mean(r["curve"][-4:])) for r in sel])
        lines.append(f"| {names[v]} | {lag} | {m:.3f} [{lo:.3f}, {hi:.3f}] | {len(sel)} | "
                     f"{' '.join('%.3f' % r['eval_score'] for r in sorted(sel, key=lambda r: r['seed']))} | "
                     f"{tm:.3f} [{tlo:.3f}, {thi:.3f}] | {rel} | {pair} |")
print("\n".join(lines))
def pick(v, lag):
    """Runs of variant v at lag; the OAPL anchors share the behaviour anchor's lag-0 runs (the
    same objective at lag 0)."""
    if lag == 0 and v.startswith("oapl-"):
        v = "oapl-behaviour"
    return [r for r in rows if r["variant"] == v and r["lag"] == lag]


def lags_of(v):
    return sorted({r["lag"] for r in rows if r["variant"] == v} | {0})


import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
vs = [v for v in order if any(r["variant"] == v for r in rows)]
fig, axes = plt.subplots(1, len(vs) + 1, figsize=(4.5 * (len(vs) + 1), 4))
for ax, v in zip(axes, vs):
    for lag in lags_of(v):
        c = np.array([r["curve"] for r in pick(v, lag)])
        ax.plot(range(1, c.shape[1] + 1), c.mean(0), marker="o", ms=3, label=f"lag {lag}")
    ax.set_title(f"{names[v]}\ntraining reward (mean of seeds; lag 0: behaviour's runs)"
                 if v.startswith("oapl-") and v != "oapl-behaviour" else
                 f"{names[v]}\ntraining reward (mean of seeds)", fontsize=9)
    ax.set_xlabel("iteration"); ax.legend(fontsize=8)
ax = axes[-1]
for k, v in enumerate(vs):
    lags = lags_of(v)
    st = [t_interval([r["eval_score"] for r in pick(v, l)]) for l in lags]
    m = np.array([s[0] for s in st])
    ax.errorbar(np.array(lags) + 0.06 * (k - 1.5), m, yerr=[m - [s[1] for s in st], [s[2] for s in st] - m],
                marker="o", capsize=3, label=names[v])
ax.set_title("final greedy eval score vs enforced lag (95% CI)", fontsize=9)
ax.set_xlabel("enforced lag"); ax.legend(fontsize=7)
fig.tight_layout(); fig.savefig(out / "lag_round3.png", dpi=110)
