"""python agents/results/issue16_ensemble_eval.py RUNS EVAL NAME RUN [RUN ...]: the ensemble of
trained policies RUNS/RUN (mean of their candidate scores) written as one policy RUNS/NAME and
evaluated greedily on the 600 evaluation questions into EVAL/s_NAME. The mean of K one-layer
tanh scorers is itself one: W1, b1 side by side (K x 16 hidden units), w2 stacked and divided
by K, w0 averaged; so the ensemble runs through the unchanged PolicyAgent (config hidden =
K x 16). Measurement only."""
import io, sys
from pathlib import Path
import numpy as np
from agents.rl.cli import evaluate, load_policy
from agents.rl.runfiles import atomic_write

runs, ev, name, members = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4:]
ps = [load_policy(runs / m) for m in members]
k = len(ps)
params = {"w0": sum(p["w0"] for p, _ in ps) / k,
          "W1": np.concatenate([p["W1"] for p, _ in ps], axis=1),
          "b1": np.concatenate([p["b1"] for p, _ in ps], axis=1),
          "w2": np.concatenate([p["w2"] for p, _ in ps], axis=0) / k}
out = runs / name
out.mkdir(parents=True, exist_ok=True)
cfg = ps[0][1]
cfg.replace(run_dir=str(out), hidden=cfg.hidden * k).save(out / "config.json")
buf = io.BytesIO()
np.savez(buf, **params)
atomic_write(out / "policy.npz", buf.getvalue())
# the scores are the members' mean (checked on random candidates before evaluating)
from agents.policy import N_FEATURES, scores
X = np.random.default_rng(0).normal(size=(50, N_FEATURES))
assert np.allclose(scores(params, X), np.mean([scores(p, X) for p, _ in ps], axis=0))
evaluate(ev / f"s_{name}", {name: out}, baselines=(), include_base=False, workers=1,
         progress=False)
print(f"{name} evaluated")
