"""python agents/results/issue16_members_collect.py DATA OUT.csv EV.csv [EV.csv ...]: one table of
per-question greedy scores and tool calls (columns POLICY and POLICY_calls, rows in the order of
DATA/eval_tasks.jsonl) from the per-policy csvs written by issue16_members_eval.py, joined with
the single-run baselines, ens5, untrained and heuristic columns of issue16_seedinit_scores.csv
(same evaluation questions; a policy measured on the held-out regimes only has empty cells on
constraint and report)."""
import csv, json, sys
from pathlib import Path
here = Path(__file__).parent
data, out, evs = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
tasks = [json.loads(l) for l in open(data / "eval_tasks.jsonl")]
idx, seen = [], {}
for t in tasks:
    i = seen.get(t["regime"], 0)
    seen[t["regime"]] = i + 1
    idx.append((t["regime"], i, t["task_id"]))
cols: dict[str, dict] = {}
old = list(csv.DictReader(open(here / "issue16_seedinit_scores.csv")))
keep = [c for c in old[0] if c.split("_calls")[0].startswith(("base_s", "init_i", "ep_s"))
        or c.split("_calls")[0] in ("ens5", "untrained", "heuristic")]
by_id = {r["task_id"]: r for r in old}
for c in keep:
    cols[c] = {(r, i): by_id[tid][c] for r, i, tid in idx}
for f in evs:
    for row in csv.DictReader(open(f)):
        key = (row["regime"], int(row["task"]))
        cols.setdefault(row["policy"], {})[key] = row["score"]
        cols.setdefault(row["policy"] + "_calls", {})[key] = row["calls"]
names = [c for c in cols if not c.endswith("_calls")]
order = names + [c + "_calls" for c in names]
with open(out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["regime", "task_id"] + order)
    for r, i, tid in idx:
        w.writerow([r, tid] + [cols[c].get((r, i), "") for c in order])
print(f"wrote {out}: {len(idx)} questions, {len(names)} policies")
