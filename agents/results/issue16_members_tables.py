"""python agents/results/issue16_members_tables.py [CSV]: the tables of the RESULTS.md section of
2026-12-07 night (issue #16: a policy as the mean scorer of K shorter runs) from
issue16_members_scores.csv. Per policy: each regime's greedy score [bootstrap 95%] (n = 100),
held-out and training means, tool calls per held-out question. Per variant (a group of
policies, one per seed or disjoint seed set): held-out per seed, mean, std, range; against the
single 16-iteration runs: the difference of the seed means with an exact permutation p (seeds
as the unit, all relabellings), and the question-paired difference of the pooled scores
(each question's score averaged over a variant's seeds; seed variance not resampled)."""
import csv, itertools, sys
from pathlib import Path
import numpy as np
from agents.rl.stats import interval, paired
R = ("constraint", "report", "numeric", "exhaustive", "procedure", "aggregate")
TRAIN, HELD = R[:2], R[2:]
path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("issue16_members_scores.csv")
rows = list(csv.DictReader(open(path)))
names = [k for k in rows[0] if k not in ("regime", "task_id") and not k.endswith("_calls")]
S = {c: {r: [float(x[c]) for x in rows if x["regime"] == r and x[c] != ""] for r in R} for c in names}
C = {c: {r: [float(x[c + "_calls"]) for x in rows if x["regime"] == r and x[c] != ""] for r in R} for c in names}
has = lambda c, rs: all(len(S[c][r]) for r in rs)
m = lambda s, rs: float(np.mean([np.mean(s[r]) for r in rs]))
sc = lambda s, rs: (lambda ci: f"{m(s, rs):.3f} [{ci[0]:.3f}, {ci[1]:.3f}]")(interval(s, rs))
cell = lambda c, rs: sc(S[c], rs) if has(c, rs) else "-"
dif = lambda d: f"{d['diff']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}]"
pick = lambda pre: [c for c in names if c.startswith(pre)]
GROUPS = {  # variant: (policies, what one policy is)
    "single16": (pick("base_s") + pick("init_i") + pick("ep_s"), "one run of 16 iterations (13 runs: seeds 0-4, init seeds 1-4, episode seeds 1-4; 1x training)"),
    "single16_base": (pick("base_s"), "one run of 16 iterations, seeds 0-4 (the baseline; 1x)"),
    "m2": (pick("m2_s"), "--members 2, S = 0-9: mean scorer of 2 runs of 8 iterations, seeds 2S, 2S+1 (1x)"),
    "pair8": (pick("p8_"), "2 runs' iteration-8 checkpoints, 6 disjoint pairs of the 13 runs (1x)"),
    "quad4": (pick("q4_"), "4 runs' iteration-4 checkpoints, 3 disjoint sets (1x)"),
    "pair16": (pick("p16_"), "the same 6 pairs at iteration 16 (2x)"),
    "quad16": (pick("q16_"), "4 whole runs, 3 disjoint sets (4x)"),
    "ens5": (pick("ens5"), "5 whole runs, base_s0-4 (5x)"),
    "single8": (pick("single8_s"), "one run of 8 iterations (iteration-8 checkpoint), seeds 0-4 (0.5x)"),
    "single4": (pick("single4_s"), "one run of 4 iterations, seeds 0-4 (0.25x)"),
    "self8_16": (pick("self_s"), "one run's iteration-8 and iteration-16 policies, seeds 0-4 (1x)"),
    "m2_4and8": (pick("m2t_s"), "2 runs' iteration-4 and iteration-8 checkpoints, seeds 0,1 and 2,3 (1x)"),
    "zero_unseen": (pick("zero_s"), "base_s0-4 with the weights of the 10 features that never fire in training zeroed (1x)"),
}
GROUPS = {k: v for k, v in GROUPS.items() if v[0]}
print("Per policy: greedy score [bootstrap 95%], n = 100 per regime ('-': not evaluated); held-out n = 400\n")
print("| policy | " + " | ".join(f"{r}{'*' if r in HELD else ''}" for r in R) + " | held-out | train | held-out calls |\n" + "|---" * (len(R) + 4) + "|")
listed = list(dict.fromkeys([c for v in GROUPS.values() for c in v[0]] + [c for c in names if c.startswith("untrained")] + ["heuristic"]))
for c in listed:
    print(f"| {c} | " + " | ".join(cell(c, (r,)) for r in R) +
          f" | {cell(c, HELD)} | {cell(c, TRAIN)} | {m(C[c], HELD):.1f} |")
ho = {k: [m(S[c], HELD) for c in v[0]] for k, v in GROUPS.items()}
print("\nHeld-out mean per seed (policy), by variant; training cost relative to one 16-iteration run in brackets\n")
print("| variant | what one policy is | n | held-out per policy | mean | std | min-max | calls per held-out question |\n|---|---|---|---|---|---|---|---|")
for k, (cs, what) in GROUPS.items():
    v = ho[k]
    print(f"| {k} | {what} | {len(v)} | {', '.join(f'{x:.3f}' for x in v)} | {np.mean(v):.3f} | "
          f"{np.std(v, ddof=1) if len(v) > 1 else 0:.3f} | {min(v):.3f}-{max(v):.3f} | "
          f"{', '.join(f'{m(C[c], HELD):.1f}' for c in cs)} |")

def perm_p(a, b):
    """Two-sided permutation p of mean(a) - mean(b): exact over all relabellings up to 200,000
    of them, else 200,000 random relabellings (seeded)."""
    from math import comb
    x, na, obs = np.array(a + b), len(a), abs(np.mean(a) - np.mean(b))
    if comb(len(x), na) <= 200_000:
        ds = [abs(x[list(i)].mean() - np.delete(x, list(i)).mean()) for i in itertools.combinations(range(len(x)), na)]
        return float(np.mean([d >= obs - 1e-12 for d in ds]))
    rng = np.random.default_rng(0)
    idx = np.argsort(rng.random((200_000, len(x))), axis=1)
    pa = x[idx[:, :na]].mean(axis=1)
    pb = x[idx[:, na:]].mean(axis=1)
    return float(np.mean(np.abs(pa - pb) >= obs - 1e-12))

def pool(cs, rs):
    return {r: list(np.mean([S[c][r] for c in cs], axis=0)) for r in rs}

print("\nAgainst the single 16-iteration runs: seed means (permutation p, seeds as the unit) and pooled question-paired difference [95%]\n")
print("| variant - reference | seed means a - b | exact permutation p | " + " | ".join(f"{r}*" for r in HELD) + " | held-out (paired, pooled) |\n|---|---|---|" + "---|" * (len(HELD) + 1))
for ref in ("single16", "single16_base"):
    for k in GROUPS:
        if k.startswith("single16"):
            continue
        a, b = ho[k], ho[ref]
        pa, pb = pool(GROUPS[k][0], HELD), pool(GROUPS[ref][0], HELD)
        print(f"| {k} - {ref} | {np.mean(a) - np.mean(b):+.3f} | {perm_p(a, b):.3f} | " +
              " | ".join(dif(paired(pa, pb, (r,))) for r in HELD) + f" | {dif(paired(pa, pb, HELD))} |")
if "m2" in GROUPS and all(has(c, R) for c in GROUPS["m2"][0]):
    print("\n--members 2 against its untrained start (the mean of its members' initial scorers), per seed and regime: trained - untrained\n")
    print("| seed | " + " | ".join(f"{r}*" for r in HELD) + " |\n|---|" + "---|" * len(HELD))
    for c in GROUPS["m2"][0]:
        u = "untrained_m2_" + c.split("_")[-1]
        if u in S:
            print(f"| {c} | " + " | ".join(f"{np.mean(S[c][r]) - np.mean(S[u][r]):+.3f}" for r in HELD) + " |")
