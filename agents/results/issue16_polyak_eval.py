"""python agents/results/issue16_polyak_eval.py RUNS EVAL K SEED [SEED ...]: for each seed, the
Polyak-averaged policy of the trained run RUNS/base_s$SEED (the mean of the parameters saved
after each of its last K iterations: `checkpoint.average_params`, what `--average-last K`
saves, training being the same) is written to RUNS/avgK_s$SEED (config.json with
average_last=K, policy.npz), and both policies are evaluated greedily on all 600 evaluation
questions into EVAL/s$SEED (`agents.rl.cli.evaluate`, no baselines; seed 0 also with the
untrained policy, `base`). Run from a checkout of commit e1a58d5 (or 7a18a85): its
`average_params` and `average_last` were reverted in 2b6dc02."""
import sys
from pathlib import Path
import numpy as np
from agents.rl.checkpoint import average_params
from agents.rl.cli import evaluate
from agents.rl.config import TrainConfig
from agents.rl.runfiles import atomic_write
import io

runs, ev, k = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
for s in map(int, sys.argv[4:]):
    base = runs / f"base_s{s}"
    cfg = TrainConfig.load(base / "config.json")
    avg = runs / f"avg{k}_s{s}"
    avg.mkdir(parents=True, exist_ok=True)
    cfg.replace(run_dir=str(avg), average_last=k).save(avg / "config.json")
    p = average_params(base, range(cfg.iterations - k + 1, cfg.iterations + 1))
    buf = io.BytesIO()
    np.savez(buf, **p)
    atomic_write(avg / "policy.npz", buf.getvalue())
    evaluate(ev / f"s{s}", {f"base_s{s}": base, f"avg{k}_s{s}": avg}, baselines=(),
             include_base=(s == 0), workers=1, progress=False)
    print(f"seed {s} evaluated", flush=True)
