"""A refusal's traceback starts at the user's code (#13 item 6): every public entry point
raises UnsupportedError without the compiler's frames (at most the entry point's own)."""
from __future__ import annotations

import os
import traceback

import numpy as np
import pytest

import coarsen


def masked(x):
    return np.sum(x[x > 0] * 2.0)   # a masked read in arithmetic: its length depends on the data


CALLS = {
    "grad": lambda: coarsen.grad(masked, target="numpy")(np.ones(3)),
    "jit": lambda: coarsen.jit(masked, target="numpy")(np.ones(3)),
    "vjp": lambda: coarsen.vjp(masked, np.ones(3), target="numpy"),
    "jvp": lambda: coarsen.jvp(masked, (np.ones(3),), (np.ones(3),), target="numpy"),
    "hessian": lambda: coarsen.hessian(masked, target="numpy")(np.ones(3)),
    "vmap": lambda: coarsen.vmap(masked, target="numpy")(np.ones((2, 3))),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_refusals_carry_no_compiler_frames(name, monkeypatch):
    monkeypatch.delenv("COARSEN_TRACEBACK", raising=False)
    with pytest.raises(coarsen.UnsupportedError) as err:
        CALLS[name]()
    assert "test_trimmed_tracebacks.py" in str(err.value.loc)
    package = os.path.dirname(coarsen.__file__)
    inside = [f for f in traceback.extract_tb(err.value.__traceback__) if f.filename.startswith(package)]
    assert len(inside) <= 3, [f"{f.filename}:{f.lineno}" for f in inside]
