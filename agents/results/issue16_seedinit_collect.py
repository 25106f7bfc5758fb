"""python agents/results/issue16_seedinit_collect.py EVAL DATA OUT.csv: per-question greedy
scores and tool calls of every policy evaluated under EVAL/s*/eval.json (written by
issue16_polyak_eval.py) on the evaluation questions of DATA (eval_tasks.jsonl, their order),
with the heuristic's column and the previous baseline's (issue16_variants_scores.csv:
baseline_s0-s4 as prev_s0-s4, before the per-feature-name initialisation) joined by task id."""
import csv, json, sys
from pathlib import Path
from agents.tasks import REGIME_NAMES

ev, data, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
tasks = [json.loads(l) for l in open(data / "eval_tasks.jsonl")]
ids = {r: [t["task_id"] for t in tasks if t["regime"] == r] for r in REGIME_NAMES}
cols, calls = {}, {}
for f in sorted(ev.glob("s*/eval.json")):
    agents = json.loads(f.read_text())["agents"]
    for label, a in agents.items():
        name = "untrained" if label == "base" else label
        cols[name] = {tid: v for r in REGIME_NAMES for tid, v in zip(ids[r], a["scores"][r])}
        calls[name] = {tid: v for r in REGIME_NAMES
                       for tid, v in zip(ids[r], a["costs"]["tool_calls"][r])}
prev = {row["task_id"]: row for row in
        csv.DictReader(open(Path(__file__).with_name("issue16_variants_scores.csv")))}
for src, dst in [("heuristic", "heuristic")] + [(f"baseline_s{s}", f"prev_s{s}") for s in range(5)]:
    cols[dst] = {tid: float(prev[tid][src]) for tid in prev}
    calls[dst] = {tid: float(prev[tid][src + "_calls"]) for tid in prev}
RANK = ("base_s", "avg4_s", "init_i", "ep_s", "ens", "prev_s", "untrained", "heuristic")
rank = lambda c: next(i for i, p in enumerate(RANK) if c.startswith(p))
order = sorted(cols, key=lambda c: (rank(c), c))
with open(out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["regime", "task_id", *order, *(c + "_calls" for c in order)])
    for r in REGIME_NAMES:
        for tid in ids[r]:
            w.writerow([r, tid, *(round(cols[c][tid], 6) for c in order),
                        *(round(calls[c][tid], 3) for c in order)])
print(f"wrote {out}: {', '.join(order)}")
