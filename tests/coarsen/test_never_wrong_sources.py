"""A lambda is traced from the text that compiles to its code (#11): two lambdas on one line,
or a line edited after the import, never give another lambda's value."""
from __future__ import annotations

import importlib.util
import sys

import pytest

import coarsen

PAIR = (lambda x: x * 2.0), (lambda x: x * 3.0)   # noqa: E731 - the same parameters on one line
MIXED = [lambda x: x + 1.0, lambda y: y - 1.0]


def make(s):
    return (lambda x: x * s), (lambda x: x + s)   # closures over the same cell


def test_each_lambda_on_a_line_is_its_own():
    assert [coarsen.jit(f, target="numpy")(1.0) for f in PAIR] == [2.0, 3.0]
    assert [coarsen.jit(f, target="numpy")(1.0) for f in MIXED] == [2.0, 0.0]
    times, plus = make(5.0)
    assert coarsen.jit(times, target="numpy")(2.0) == 10.0 and coarsen.jit(plus, target="numpy")(2.0) == 7.0
    assert coarsen.grad(PAIR[1], target="numpy")(1.0) == 3.0


def test_a_lambda_whose_line_changed_after_import_is_refused(tmp_path):
    path = tmp_path / "lam_mod.py"
    path.write_text("f, g = (lambda x: x * 2.0), (lambda x: x * 3.0)\n")
    spec = importlib.util.spec_from_file_location("lam_mod_h", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["lam_mod_h"] = mod
    try:
        spec.loader.exec_module(mod)
        path.write_text("f, g = (lambda x: x * 5.0), (lambda x: x * 7.0)\n")   # edited, not reloaded
        import linecache
        linecache.checkcache(str(path))
        for fn in (mod.f, mod.g):
            with pytest.raises(coarsen.UnsupportedError, match="lam_mod.py:1:.*compiles to the code it runs"):
                coarsen.jit(fn, target="numpy")(1.0)
    finally:
        sys.modules.pop("lam_mod_h", None)
