"""python agents/results/issue16_members_eval.py OUT.csv DATA NAME=SPEC [NAME=SPEC ...]: greedy
scores of policies on the evaluation questions of DATA (all six regimes, or those named in
EV_REGIMES=a,b,...), appended to OUT.csv as one row per (policy, question):
policy,regime,task,score,calls. SPEC: RUN (its policy.npz) | RUN@IT (its checkpoint after
iteration IT) | RUN!z or RUN@IT!z (the rows of the features whose weights are still their
initial draw set to zero) | init:SEED:MEMBERS (the untrained policy of such a run) |
SPEC+SPEC+... (the mean scorer of several: one wider tanh layer). Measurement only."""
import sys, csv, os
from pathlib import Path
import numpy as np
from agents.rl.cli import load_policy
from agents.rl.checkpoint import read_checkpoint
from agents.rl.data import _read_tasks
from agents.rl.evaluate import evaluate_agent
from agents.rl.rollout import Sampler

def one(spec):
    if spec.startswith("init:"):  # init:SEED:MEMBERS, the untrained policy of a run
        from agents.rl.config import TrainConfig
        from agents.rl.trainer import initial_params
        _, seed, k = spec.split(":")
        return initial_params(TrainConfig(seed=int(seed), members=int(k)))
    if spec.endswith("!z"):  # zero the rows of features that never fired in training (unchanged since init)
        from agents.policy import init_params, N_FEATURES
        from agents.rl.config import TrainConfig
        run = spec[:-2].split("@")[0]
        cfg = TrainConfig.load(Path(run) / "config.json")
        p = one(spec[:-2])
        p0 = init_params(N_FEATURES, cfg.hidden, cfg.policy_init_seed)
        same = np.all(p["W1"] == p0["W1"], axis=1) & (p["w0"] == p0["w0"]).ravel()
        p = {k: v.copy() for k, v in p.items()}
        p["W1"][same] = 0.0
        p["w0"][same] = 0.0
        print(spec, "zeroed", int(same.sum()), flush=True)
        return p
    if "@" in spec:
        run, it = spec.split("@")
        return {k: np.asarray(v) for k, v in read_checkpoint(Path(run) / "ckpt" / f"iter-{int(it):04d}.pkl")["params"].items()}
    return load_policy(spec)[0]

def params_of(spec):
    ps = [one(s) for s in spec.split("+")]
    if len(ps) == 1: return ps[0]
    k = len(ps)
    return {"w0": sum(p["w0"] for p in ps) / k,
            "W1": np.concatenate([p["W1"] for p in ps], axis=1),
            "b1": np.concatenate([p["b1"] for p in ps], axis=1),
            "w2": np.concatenate([p["w2"] for p in ps], axis=0) / k}

out, data = sys.argv[1], Path(sys.argv[2])
flat = _read_tasks(data / "eval_tasks.jsonl")
regs = os.environ.get("EV_REGIMES", "constraint,report,numeric,exhaustive,procedure,aggregate").split(",")
tasks = {r: [t for t in flat if t.regime == r] for r in regs}
new = not Path(out).exists()
with Sampler(str(data / "index"), 12, 1) as s, open(out, "a", newline="") as f:
    w = csv.writer(f)
    if new: w.writerow(["policy", "regime", "task", "score", "calls"])
    for arg in sys.argv[3:]:
        name, spec = arg.split("=", 1)
        res = evaluate_agent(s, tasks, "policy", params_of(spec))
        for r in tasks:
            for i, (sc, c) in enumerate(zip(res["scores"][r], res["costs"]["tool_calls"][r])):
                w.writerow([name, r, i, f"{sc:.4f}", int(c)])
        f.flush()
        ho = [np.mean(res["scores"][r]) for r in regs if r not in ("constraint", "report")]
        print(name, {r: round(float(np.mean(res["scores"][r])), 3) for r in regs}, "held-out", round(float(np.mean(ho)), 3), flush=True)
