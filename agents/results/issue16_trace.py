"""python agents/results/issue16_trace.py RUN DATA_DIR REGIME I0 I1: greedy episodes of a trained run on
evaluation questions I0..I1-1 of REGIME: the decisions (tool:sub), the answer, its grade, and
the best-graded item in working memory at the end (measurement only: grades use the task)."""
import sys, json
from agents.rl.cli import load_policy
from agents import SearchEnv, SearchIndex, run_episode
from agents.tasks import Task, REGIMES
from agents.policy import PolicyAgent
from agents.policy.items import render
params, cfg = load_policy(sys.argv[1])
data, reg, i0, i1 = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
idx = SearchIndex.load(data + "/index")
env = SearchEnv(idx)
tasks = [Task.from_json(json.loads(l)) for l in open(data + "/eval_tasks.jsonl")]
tasks = [t for t in tasks if t.regime == reg][i0:i1]
for t in tasks:
    ag = PolicyAgent(params, greedy=True)
    rec = run_episode(env, ag, t, seed=0)
    g = REGIMES[t.regime].grade
    items = ag.mem.items
    best = max(items, key=lambda it: g(t, render(it)), default=None)
    print(f"== {t.question[:110]}\n  score {rec['score']:.2f} calls {rec['cost']['tool_calls']} gold {str(t.answer)[:80]}")
    acts = [f"{d.tool}:{d.sub}" for d in ag.decisions]
    print("  acts", " ".join(acts)[:400])
    ans = rec['trajectory'][-1] if rec.get('trajectory') else None
    print("  ans", str(ans)[:160])
    if best is not None:
        print(f"  best item {g(t, render(best)):.2f} {best.kind}/{best.how} {str(render(best))[:100]}")
