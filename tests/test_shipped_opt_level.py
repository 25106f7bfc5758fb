"""The suite compiles machine code at NUMBA_OPT=0 (tests/conftest.py: a quarter of the compile
time, which is most of the suite's time). Users run Numba's default level, 3: LLVM's
optimisations keep the results (no fast-math, but the reassociated sums of `rt.matmul`'s
loops), and this runs a sample of the cpu-target tests at that level, in a fresh process, to
check it: random programs with branches and loops against torch.autograd and central
differences (a part of each cpu property of test_grad_properties), every target's reference
programs with ties and kinks on cpu, and the statement-fusion pass's loops (which LLVM
vectorises)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = {   # in parts, so that the suite's workers share them
    "random programs, gradients": ["tests/coarsen/test_grad_properties.py::test_gradient_on_the_cpu_target[0]"],
    "random programs, vjps": ["tests/coarsen/test_grad_properties.py::test_vjp_on_the_cpu_target[1]"],
    "ties and kinks": ["tests/coarsen/test_every_target.py"],
    "fused loops": ["tests/kernels/test_fusion.py"],
}


@pytest.mark.slow
@pytest.mark.parametrize("part", SAMPLE)
def test_a_sample_of_the_suite_at_numbas_default_optimisation_level(tmp_path, part):
    env = dict(os.environ, NUMBA_OPT="3", COARSEN_CACHE_DIR=str(tmp_path / "cache"))
    probe = subprocess.run([sys.executable, "-c", "import tests.conftest; from numba.core import config; "
                            "print(int(config.OPT))"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert probe.stdout.split()[-1:] == ["3"], probe.stdout + probe.stderr
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                           "-o", "addopts=", "-k", "cpu or fusion", *SAMPLE[part]],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.splitlines()[-1], done.stdout[-2000:]
