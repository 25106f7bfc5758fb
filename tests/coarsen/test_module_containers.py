"""Module-level lists and dicts of numbers (configuration, coefficients) are compile-time
containers read element by element (they were refused: "cannot index [1.0, 2.0]"); a value
replaced, a list grown, a key deleted or an array in them written is seen at the next call,
in the same process and, through the disk cache, in a new one."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import coarsen
import module_containers_programs as P

REPO = Path(__file__).resolve().parents[2]


def _check(fn, target, x=0.7):
    assert coarsen.jit(fn, target=target)(x) == pytest.approx(fn(x), rel=1e-15)
    fd = (fn(x + 1e-6) - fn(x - 1e-6)) / 2e-6
    assert coarsen.grad(fn, target=target)(x) == pytest.approx(fd, rel=1e-6)


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_values_gradients_and_edits_are_seen(target, monkeypatch):
    monkeypatch.setattr(P, "COEFS", list(P.COEFS))
    monkeypatch.setattr(P, "CFG", dict(P.CFG, w=P.CFG["w"].copy()))
    fns = (P.horner, P.indexed, P.configured)
    compiled = {fn: coarsen.jit(fn, target=target) for fn in fns}
    for fn in fns:
        _check(fn, target)
    P.COEFS[1] = 5.0
    P.CFG["scale"] = -1.0
    P.CFG["w"][0] = 10.0
    for fn in fns:
        assert compiled[fn](0.7) == pytest.approx(fn(0.7), rel=1e-15)
    P.COEFS.append(4.0)
    for fn in (P.horner, P.indexed):
        assert compiled[fn](0.7) == pytest.approx(fn(0.7), rel=1e-15)
    del P.CFG["shift"]
    with pytest.raises(Exception, match="shift"):
        compiled[P.configured](0.7)


RUN = textwrap.dedent("""
    import json, sys
    sys.path[:0] = [{root!r}, {repo!r}]
    import coarsen, cfgmod
    print(json.dumps([cfgmod.f(0.5), coarsen.jit(cfgmod.f, target="numpy")(0.5)]))
""")


@pytest.mark.slow
def test_editing_a_module_dict_between_processes_is_seen(tmp_path):
    root, cache = tmp_path / "pkg", tmp_path / "cache"
    root.mkdir()
    module = root / "cfgmod.py"
    env = dict(os.environ, COARSEN_CACHE_DIR=str(cache), PYTHONDONTWRITEBYTECODE="1")
    for scale in ("2.0", "2.0", "3.0"):
        module.write_text(f"CFG = {{'scale': {scale}, 'k': [1.0, 2.0]}}\n\n\ndef f(x):\n"
                          "    return CFG['scale'] * x + CFG['k'][1]\n")
        done = subprocess.run([sys.executable, "-c", RUN.format(root=str(root), repo=str(REPO))], env=env,
                              capture_output=True, text=True, cwd=root)
        assert done.returncode == 0, done.stderr[-2000:]
        plain, compiled = json.loads(done.stdout.strip().splitlines()[-1])
        assert compiled == plain
