"""The prepared GPU check (`python -m benchmarks.gpu`, run by benchmarks/gpu_check.sh on a lent
GPU) runs end to end at tiny sizes in Numba's CUDA simulator, so it cannot rot between the
rare sessions that have a GPU: every coarsen cuda gradient agrees with the cpu target's."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.gpu
def test_gpu_check_runs_in_the_simulator(tmp_path):
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", COARSEN_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    out = tmp_path / "gpu"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.gpu", "--tiny", "--no-tests", "--repeats", "1",
                           "--peers", "torch.func",
                           "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "results.json").read_text())
    assert report["device"].startswith("Numba CUDA simulator")
    names = [row["name"] for row in report["benchmarks"]]
    assert names == ["cartpole", "branch", "hookean", "bgd_hyperopt", "hmc_grad_U"]
    for row in report["benchmarks"]:
        ours = row["coarsen cuda"]
        assert "error" not in ours, (row["name"], ours.get("trace"))
        assert ours["rel_err_vs_cpu"] <= 1e-10, row["name"]
        assert ours["median_s"] > 0 and ours["first_call_s"] > 0
        # torch runs the same programs (branch-free forms) on the CPU here and must agree
        assert row["torch.func"]["rel_err_vs_cpu"] <= 1e-10, (row["name"], row["torch.func"])
        assert row["jax"] == {"error": "not run (--peers)"}
    assert (out / "results.txt").read_text().startswith("device: Numba CUDA simulator")
