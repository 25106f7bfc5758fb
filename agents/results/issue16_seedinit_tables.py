"""python agents/results/issue16_seedinit_tables.py [CSV]: the tables of the RESULTS.md section
of 2026-12-07 (issue #16: per-feature-name initialisation, 5 seeds; Polyak averaging over the
last 4 iterations) from issue16_seedinit_scores.csv: per policy and seed, each regime's
greedy score with its bootstrap 95% interval (n = 100 per regime), the held-out and training
means and tool calls; per variant the spread of the held-out mean over seeds (min-max, std);
the same spread with only the initial weights' seed varied (episodes of seed 0: base_s0,
init_i1-4) and with only the episodes' seed varied (initial weights of seed 0: base_s0,
ep_s1-4); paired differences (avg4 - base on the same trained runs; base - prev, the previous
initialisation, same seed numbers) per seed and pooled over seeds."""
import csv, itertools, sys
from pathlib import Path
import numpy as np
from agents.rl.stats import interval, paired
R = ("constraint", "report", "numeric", "exhaustive", "procedure", "aggregate")
TRAIN, HELD = R[:2], R[2:]
path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("issue16_seedinit_scores.csv")
rows = list(csv.DictReader(open(path)))
order = [k for k in rows[0] if k not in ("regime", "task_id") and not k.endswith("_calls")]
S = {c: {r: [float(x[c]) for x in rows if x["regime"] == r] for r in R} for c in order}
C = {c: {r: [float(x[c + "_calls"]) for x in rows if x["regime"] == r] for r in R} for c in order}
m = lambda s, rs: float(np.mean([np.mean(s[r]) for r in rs]))
sc = lambda s, rs: (lambda ci: f"{m(s, rs):.3f} [{ci[0]:.3f}, {ci[1]:.3f}]")(interval(s, rs))
dif = lambda d: f"{d['diff']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}]"
pool = lambda cols: {r: list(np.mean([S[c][r] for c in cols], axis=0)) for r in R}
num = lambda c: int(c.rsplit("_", 1)[1][1:])
cols = lambda pre: sorted((c for c in order if c.startswith(pre)), key=num)
# the spread groups: seed S trains with episodes of seed S; init_iI with the episodes of seed 0
# and initial weights of seed I; ep_sS with the episodes of seed S and the initial weights of 0
seeds = {"base": cols("base_s"), "avg4": cols("avg4_s"), "prev": cols("prev_s"),
         "init varies (episodes of seed 0)": ([c for c in ("base_s0",) if c in S] + cols("init_i")),
         "episodes vary (init of seed 0)": ([c for c in ("base_s0",) if c in S] + cols("ep_s"))}
seeds = {k: v for k, v in seeds.items() if v and (len(v) > 1 or k in ("base", "avg4", "prev"))}
variants = list(seeds)
head = [f"{r}{'*' if r in HELD else ''}" for r in R]
print("Per policy and seed: greedy score [bootstrap 95%], n = 100 per regime; held-out n = 400\n")
print("| policy | " + " | ".join(head) + " | held-out | train | held-out calls |\n" + "|---" * (len(head) + 4) + "|")
for c in list(dict.fromkeys(c for v in variants for c in seeds[v])) + [c for c in ("ens5", "untrained", "heuristic") if c in S]:
    print(f"| {c} | " + " | ".join(sc(S[c], (r,)) for r in R) +
          f" | {sc(S[c], HELD)} | {sc(S[c], TRAIN)} | {m(C[c], HELD):.1f} |")
print("\nSpread of the held-out mean over seeds; pooled = each question's score averaged over the seeds\n")
print("| runs | n | held-out per seed | mean | min-max (range) | std (ddof=1) | pooled [95%] | procedure per seed | calls |\n|---|---|---|---|---|---|---|---|---|")
for v in variants:
    h = [m(S[c], HELD) for c in seeds[v]]
    pr = [m(S[c], ("procedure",)) for c in seeds[v]]
    print(f"| {v} | {len(h)} | {', '.join(f'{x:.3f}' for x in h)} | {np.mean(h):.3f} | "
          f"{min(h):.3f}-{max(h):.3f} ({max(h) - min(h):.3f}) | {np.std(h, ddof=1):.3f} | "
          f"{sc(pool(seeds[v]), HELD)} | {', '.join(f'{x:.3f}' for x in pr)} | "
          f"{np.mean([m(C[c], HELD) for c in seeds[v]]):.1f} |")
print("\nPaired differences [95% paired bootstrap over questions]: pooled over the seeds, and held-out per seed\n")


def seed_p(a, b, same_runs):
    """Exact two-sided permutation p of the difference of the seeds' held-out means: sign flips
    of the per-seed differences where a and b come from the same trained runs, else
    reassignments of the seed labels between a and b (the seeds are the unit, not questions)."""
    a, b = np.asarray(a), np.asarray(b)
    obs = abs(a.mean() - b.mean()) - 1e-12
    if same_runs:
        d = a - b
        null = [abs(np.mean(d * s)) for s in itertools.product((1, -1), repeat=len(d))]
    else:
        x, n = np.concatenate([a, b]), len(a)
        null = [abs(x[list(i)].mean() - np.delete(x, list(i)).mean())
                for i in itertools.combinations(range(len(x)), n)]
    return float(np.mean(np.asarray(null) >= obs))


print("| comparison | " + " | ".join(head) + " | held-out | train | held-out per seed | seed means a - b, permutation p |\n" + "|---" * (len(head) + 5) + "|")
for a, b in (("avg4", "base"), ("base", "prev"), ("avg4", "prev")):
    if a not in seeds or b not in seeds:
        continue
    sa = [c for c in seeds[a] if f"{b}_s{num(c)}" in S]
    sb = [f"{b}_s{num(c)}" for c in sa]
    pa, pb = pool(sa), pool(sb)
    per = ", ".join(dif(paired(S[x], S[y], HELD)) for x, y in zip(sa, sb))
    print(f"| {a} - {b} ({len(sa)} seeds) | " + " | ".join(dif(paired(pa, pb, (r,))) for r in R) +
          f" | {dif(paired(pa, pb, HELD))} | {dif(paired(pa, pb, TRAIN))} | {per} | "
          f"{np.mean([m(S[c], HELD) for c in sa]) - np.mean([m(S[c], HELD) for c in seeds[b]]):+.3f}, "
          f"p = {seed_p([m(S[c], HELD) for c in sa], [m(S[c], HELD) for c in (sb if a == 'avg4' and b == 'base' else seeds[b])], a == 'avg4' and b == 'base'):.3f} |")
if "ens5" in S and len(seeds.get("base", ())) == 5:
    pb = pool(seeds["base"])
    print(f"| ens5 - base (mean of the 5 seeds' scores per question) | " + " | ".join(
        dif(paired(S["ens5"], pb, (r,))) for r in R) + f" | {dif(paired(S['ens5'], pb, HELD))} | "
        f"{dif(paired(S['ens5'], pb, TRAIN))} | - | - |")
    print(f"\nens5 (one policy: the mean of the five base seeds' candidate scores) against the best "
          f"base seed: held-out {m(S['ens5'], HELD):.3f} vs {max(m(S[c], HELD) for c in seeds['base']):.3f}")
