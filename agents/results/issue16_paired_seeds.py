"""python agents/results/issue16_paired_seeds.py A.csv[+A2.csv...]:PREFIX_A B.csv[+...]:PREFIX_B S1,S2,...  -- paired comparison of policies
PREFIX_A + s vs PREFIX_B + s over seeds s: per-seed held-out means (and calls), seed-level exact
permutation p (sign flips of per-seed differences), question-paired bootstrap of the pooled
differences per regime and on the held-out mean (agents.rl.stats.paired)."""
import csv, sys, itertools
import numpy as np
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
from agents.rl.stats import paired
HELD = ("numeric", "exhaustive", "procedure", "aggregate")
ALL = ("constraint", "report") + HELD
def load(spec):
    path, prefix = spec.split(":")
    rows = {}
    for f in path.split("+"):
        reader = csv.DictReader(open(f))
        if "policy" in reader.fieldnames:  # long: policy,regime,task,score,calls
            for r in reader:
                rows.setdefault(r["policy"], {}).setdefault(r["regime"], {})[int(r["task"])] = (float(r["score"]), int(r["calls"]))
            continue
        # wide (issue16_members_scores.csv): regime,task_id,NAME...,NAME_calls...
        names = [c for c in reader.fieldnames[2:] if not c.endswith("_calls")]
        index = {}
        for r in reader:
            i = index[r["regime"]] = index.get(r["regime"], -1) + 1
            for n in names:
                if r[n] != "":
                    rows.setdefault(n, {}).setdefault(r["regime"], {})[i] = (float(r[n]), int(float(r[n + "_calls"])))
    return rows, prefix
(a, pa), (b, pb) = load(sys.argv[1]), load(sys.argv[2])
seeds = sys.argv[3].split(",")
pool_a = {r: [] for r in ALL}; pool_b = {r: [] for r in ALL}
diffs = []
for s in seeds:
    A, B = a[pa + s], b[pb + s]
    ha = np.mean([np.mean([v[0] for v in A[r].values()]) for r in HELD])
    hb = np.mean([np.mean([v[0] for v in B[r].values()]) for r in HELD])
    ca = np.mean([np.mean([v[1] for v in A[r].values()]) for r in HELD])
    cb = np.mean([np.mean([v[1] for v in B[r].values()]) for r in HELD])
    per = {r: round(float(np.mean([v[0] for v in A[r].values()]) - np.mean([v[0] for v in B[r].values()])), 3) for r in ALL}
    print(f"seed {s}: A {ha:.3f} ({ca:.1f} calls)  B {hb:.3f} ({cb:.1f} calls)  diff {ha-hb:+.3f}  per regime {per}")
    diffs.append(ha - hb)
    for r in ALL:
        ks = sorted(A[r])
        assert ks == sorted(B[r])
        pool_a[r] += [A[r][k][0] for k in ks]; pool_b[r] += [B[r][k][0] for k in ks]
d = np.array(diffs)
flips = [np.mean(d * np.array(sg)) for sg in itertools.product((1, -1), repeat=len(d))]
p = np.mean([abs(f) >= abs(d.mean()) - 1e-12 for f in flips])
print(f"seed means: A - B = {d.mean():+.3f} (std of diffs {d.std(ddof=1):.3f}); sign-flip permutation p = {p:.3f}")
for r in ALL:
    x = paired(pool_a, pool_b, (r,), 0)
    print(f"  {r:11s} {x['diff']:+.3f} [{x['lo']:+.3f}, {x['hi']:+.3f}] n={x['n']}")
x = paired(pool_a, pool_b, HELD, 0)
print(f"  held-out    {x['diff']:+.3f} [{x['lo']:+.3f}, {x['hi']:+.3f}] n={x['n']}")
