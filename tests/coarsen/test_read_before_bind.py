"""A local read before the line that binds it (issue #13; `frontend.loops.ReadBeforeBind`).

Python's rule: a name bound anywhere in a function is local everywhere in it. Read before its
binding in a loop body, it is the value an earlier iteration bound (the loop carries it,
unbound on entry); read where no path has bound it, it is UnboundLocalError where the read
runs, never the module's global of the same name (coarsen returned the global: 20.0 where
Python gives 1.0). Values as plain Python, gradients against central differences, on both
targets. Programs: read_before_bind_programs.py."""
from __future__ import annotations

import ast
import inspect
import symtable
import textwrap

import numpy as np
import pytest

import coarsen
import read_before_bind_programs as P
from coarsen.frontend.scope import local_names


def _python(fn, args):
    try:
        return fn(*args), None
    except UnboundLocalError as err:
        return None, err


@pytest.mark.parametrize("target", ["numpy", pytest.param("cpu", marks=pytest.mark.slow)])
@pytest.mark.parametrize("case", range(len(P.CASES)),
                         ids=[f"{f.__name__}-{k}" for k, (f, _) in enumerate(P.CASES)])
def test_as_python(case, target):
    fn, args = P.CASES[case]
    want, err = _python(fn, args)
    if err is not None:
        with pytest.raises(UnboundLocalError, match="cannot access local variable"):
            coarsen.jit(fn, target=target)(*args)
        with pytest.raises(UnboundLocalError):
            coarsen.grad(fn, target=target)(*args)
        return
    np.testing.assert_allclose(coarsen.jit(fn, target=target)(*args), want, rtol=1e-13, atol=0)
    x, rest = args[0], args[1:]
    g = coarsen.grad(fn, target=target)(*args)
    direction = np.linspace(0.5, 1.5, np.size(x)).reshape(np.shape(x)) if np.ndim(x) else 1.0
    eps = 1e-6
    fd = (fn(x + eps * direction, *rest) - fn(x - eps * direction, *rest)) / (2 * eps)
    np.testing.assert_allclose(np.sum(g * direction), fd, rtol=1e-6, atol=1e-7)


def test_the_global_of_a_local_name_is_never_read():
    assert P.G == 100.0
    assert coarsen.jit(P.global_shadow_branch, target="numpy")(0.5) == 1.0
    with pytest.raises(UnboundLocalError):
        coarsen.jit(P.global_shadow_branch, target="numpy")(-0.5)


def test_a_loop_carries_only_the_names_read_early():
    """The carried name is a loop parameter; a name bound before it is read is not carried."""
    ir = str(coarsen.trace(P.two_names, 0.3))
    assert ir.count("check") >= 1   # reading `a` checks its bound flag where it runs


_SCOPES = '''
def f(a, b=1, *c, d, **e):
    x = 1
    y[0] = 2
    o.f = 3
    for i, (j, *k) in z: pass
    with q as (w1, w2): pass
    try: pass
    except E as err: pass
    import os.path, numpy as np
    from m import nn
    def h(p=pv): inner = 1
    class C: cls_inner = 1
    [t for t in u if (wal := t)]
    lam = lambda s: s
    global gg
    gg = 1
    del dd
    (v := 5)
    nonlocal_free = outer_name + 1
'''


@pytest.mark.parametrize("source", [_SCOPES, inspect.getsource(P)])
def test_local_names_match_pythons_symbol_table(source):
    source = textwrap.dedent(source)
    tree = ast.parse(source)
    tables = {t.get_name(): t for t in symtable.symtable(source, "<test>", "exec").get_children()}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            table = tables[node.name]
            want = {s.get_name() for s in table.get_symbols() if s.is_local() and not s.is_global()}
            assert local_names(node) == want, node.name
