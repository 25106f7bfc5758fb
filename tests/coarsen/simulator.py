"""Run a test script in a fresh process on Numba's CUDA simulator (unless the caller's
environment says otherwise): CUDA state cannot be reset inside the test process."""
from __future__ import annotations

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_cuda_script(template: str, cache_dir) -> None:
    """`template`, formatted with `root` (the repository) and `here` (tests/coarsen), must run
    without error and print a last line ending in "ok"."""
    script = template.format(root=os.path.dirname(os.path.dirname(HERE)), here=HERE)
    env = dict(os.environ, COARSEN_CACHE_DIR=str(cache_dir))
    env.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stdout[-3000:] + out.stderr[-3000:]
