"""The program cache is never silently wrong (issue #11).

- Key soundness: every kind of outside value a program reads (a module-level array, a module
  attribute, a helper called through its module, a helper's default, a class attribute, an
  element of a large array in a tuple) is edited between two processes; the second returns
  the new result, and an unedited rerun does load from disk (so the cache is really used).
- Within one process, rebinding what a compiled function read is noticed at the next call.
- Corruption: bytes flipped in every cache file (entries, generated modules, Numba's index and
  data) give the right result, after a warning and a recompile where needed.
- Threads and processes compiling the same function at once.
- Unsafe or unusable cache directories turn the disk cache off with a warning; a link planted
  in place of an entry is not followed.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import threading
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import coarsen
from kernels import diskcache

REPO = Path(__file__).resolve().parents[2]


def write_package(root: Path) -> None:
    """main.f reads each kind of dependency once; its gradient at x is written down below."""
    (root / "cfg.py").write_text("S = 2.0\n")
    (root / "helpers.py").write_text(textwrap.dedent("""
        import numpy as np


        def h(x, k=2.0):
            return k * np.sum(x)


        class K:
            c = 1.0
    """))
    np.save(root / "w.npy", np.array([1.0, 2.0, 3.0]))
    big = np.linspace(0.0, 1.0, 1500)
    np.save(root / "big.npy", big)
    (root / "main.py").write_text(textwrap.dedent("""
        import os
        import numpy as np
        import cfg
        import helpers
        from helpers import K

        HERE = os.path.dirname(__file__)
        W = np.load(os.path.join(HERE, "w.npy"))
        T = (np.ones(2), np.load(os.path.join(HERE, "big.npy")))


        def f(x):
            return np.sum(W * x) * cfg.S + helpers.h(x) + K.c * x[1] + np.sum(T[1][:3] * x)
    """))


def expected_gradient(root: Path) -> np.ndarray:
    ns: dict = {}
    exec((root / "cfg.py").read_text(), ns)
    helpers = (root / "helpers.py").read_text()
    c = float(helpers.split("c = ")[1].split()[0])
    grad = np.load(root / "w.npy") * ns["S"] + _h_slope(helpers)
    grad[1] += c
    return grad + np.load(root / "big.npy")[:3]


def _h_slope(helpers: str) -> float:
    """d/dx of h's body, `return A * np.sum(x)` with A a literal or `k` (its default)."""
    body = helpers.split("return ")[1].split(" *")[0]
    k = float(helpers.split("k=")[1].split(")")[0])
    return k if body == "k" else float(body)


RUN = textwrap.dedent("""
    import json, sys
    sys.path[:0] = [{root!r}, {repo!r}]
    import numpy as np
    import coarsen
    import main
    out = {{}}
    for target in {targets!r}:
        g = coarsen.grad(main.f, target=target)
        x = np.array([0.5, -1.0, 2.0])
        grad = g(x)
        prog = next(iter(g.programs.values()))
        out[target] = {{"grad": grad.tolist(), "from_disk": prog.ir is None}}
    print(json.dumps(out))
""")


def run_in_new_process(root: Path, cache: Path, targets: tuple) -> dict:
    env = dict(os.environ, COARSEN_CACHE_DIR=str(cache), PYTHONDONTWRITEBYTECODE="1")
    script = RUN.format(root=str(root), repo=str(REPO), targets=targets)
    done = subprocess.run([sys.executable, "-c", script], env=env,
                          capture_output=True, text=True, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.slow
def test_editing_any_dependency_between_processes_is_seen(tmp_path):
    root, cache = tmp_path / "pkg", tmp_path / "cache"
    root.mkdir()
    write_package(root)

    def check(label: str, from_disk: bool, targets=("numpy",)) -> None:
        out = run_in_new_process(root, cache, targets)
        for target, got in out.items():
            np.testing.assert_allclose(got["grad"], expected_gradient(root), rtol=1e-13,
                                       err_msg=f"{label} ({target})")
            assert got["from_disk"] == from_disk, (label, target, got)

    # the key does not depend on the target: the cpu target (Numba's machine-code cache
    # too) is checked on the case, a module-level array loaded from a data file
    both = ("numpy", "cpu")
    check("first run", from_disk=False, targets=both)
    check("unchanged rerun", from_disk=True, targets=both)   # the cache is really used
    np.save(root / "w.npy", np.array([10.0, 20.0, 30.0]))
    check("array loaded from a data file", from_disk=False, targets=both)
    edits = [
        ("module attribute cfg.S", lambda: edit(root / "cfg.py", "S = 2.0", "S = 3.0")),
        ("helper called as helpers.h", lambda: edit(root / "helpers.py", "return k *", "return 5.0 *")),
        ("helper's default", lambda: (edit(root / "helpers.py", "return 5.0 *", "return k *"),
                                      edit(root / "helpers.py", "k=2.0", "k=4.0"))),
        ("class attribute", lambda: edit(root / "helpers.py", "c = 1.0", "c = 7.0")),
        ("element of a 1500-element array in a tuple, changed in the 10th digit",
         lambda: np.save(root / "big.npy", np.load(root / "big.npy") + np.eye(1, 1500, 1)[0] * 1e-10)),
    ]
    for label, change in edits:
        change()
        check(label, from_disk=False)


# ---------------------------------------------------------------------- within one process
def make_module(tmp_path: Path, name: str, text: str) -> types.ModuleType:
    import importlib.util
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(text))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_rebinding_what_a_compiled_function_read_is_noticed_at_the_next_call(tmp_path, monkeypatch, target):
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(tmp_path / "cache"))
    m = make_module(tmp_path, f"rebind_{target}", """
        import numpy as np


        class K:
            c = 1.0


        W = np.array([1.0, 2.0, 3.0])
        S = 2.0


        def h(x):
            return np.sum(x)


        def make(scale):
            def inner(x):
                return scale * np.sum(x)
            return inner


        def f(x, d=1.0):
            return np.sum(W * x) * S + h(x) * K.c + d * x[0]
    """)
    x = np.ones(3)
    g = coarsen.grad(m.f, target=target)

    def expect():
        e = m.W * m.S + m.K.c * (3.0 if m.h.__name__ == "h3" else 1.0)
        e[0] += m.f.__defaults__[0]
        return e
    np.testing.assert_allclose(g(x), expect())
    m.W = np.array([10.0, 20.0, 30.0])            # a module-level array
    np.testing.assert_allclose(g(x), expect())
    np.testing.assert_allclose(coarsen.grad(m.f, target=target)(x), expect())
    m.S = 5.0                                      # a module-level number
    np.testing.assert_allclose(g(x), expect())
    m.K.c = 4.0                                    # a class attribute
    np.testing.assert_allclose(g(x), expect())
    m.f.__defaults__ = (7.0,)                      # a default
    np.testing.assert_allclose(g(x), expect())

    def h3(x):
        return 3.0 * np.sum(x)
    m.h = h3                                       # a helper
    np.testing.assert_allclose(g(x), expect())
    del m.S                                        # gone: compiled again, and refused
    with pytest.raises(coarsen.UnsupportedError, match="`S` is not defined"):
        g(x)

    scale = [2.0]
    inner = m.make(scale[0])
    gi = coarsen.grad(inner, target=target)
    np.testing.assert_allclose(gi(x), 2.0 * np.ones(3))
    inner.__closure__[0].cell_contents = 6.0       # a closure cell
    np.testing.assert_allclose(gi(x), 6.0 * np.ones(3))


# ---------------------------------------------------------------------- corruption
def reference_module(tmp_path: Path, name: str) -> types.ModuleType:
    return make_module(tmp_path, name, """
        import numpy as np

        C = np.array([0.5, 1.5, -2.0])


        def f(x, y):
            s = 0.0
            for i in range(x.shape[0]):
                s = s + np.sin(x[i] * y) * C[i]
            return s
    """)


@pytest.mark.slow
def test_flipped_bytes_in_any_cache_file_give_the_right_result(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(cache))
    m = reference_module(tmp_path, "fuzzed")
    x, y = np.array([0.3, -0.7, 1.1]), 0.9
    expected = np.cos(x * y) * y * m.C
    np.testing.assert_allclose(coarsen.grad(m.f)(x, y), expected, rtol=1e-13)
    files = sorted(p for p in cache.rglob("*") if p.is_file())
    kinds = {p.suffix for p in files}
    assert {".json", ".py", ".nbi", ".nbc"} <= kinds, files
    pristine = {p: p.read_bytes() for p in files}
    rng = random.Random(11)
    for trial in range(24):
        for p, data in pristine.items():
            p.write_bytes(data)
        victim = files[trial % len(files)]
        data = bytearray(pristine[victim])
        if trial % 6 == 5:
            data = data[:rng.randrange(len(data))]              # truncated
        else:
            for _ in range(rng.choice((1, 1, 3))):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        victim.write_bytes(bytes(data))
        for name in [k for k in sys.modules if k.startswith("coarsen_generated_")]:
            del sys.modules[name]   # as a new process would: the module file is read again
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # a warning is expected for most corruptions
            got = coarsen.grad(m.f)(x, y)
        np.testing.assert_allclose(got, expected, rtol=1e-13, err_msg=f"trial {trial}: {victim.name}")


def test_a_corrupt_entry_warns_and_recompiles(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(cache))
    m = reference_module(tmp_path, "corrupt_entry")
    x = np.array([0.3, -0.7, 1.1])
    first = coarsen.grad(m.f, target="numpy")(x, 0.9)
    (entry,) = cache.glob("program_*.json")
    data = bytearray(entry.read_bytes())
    data[-5] ^= 0x20
    entry.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="corrupt cache entry"):
        again = coarsen.grad(m.f, target="numpy")
        np.testing.assert_allclose(again(x, 0.9), first, rtol=1e-15)
    assert next(iter(again.programs.values())).ir is not None   # compiled again


def test_a_link_planted_in_place_of_an_entry_is_not_followed(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(cache))
    m = reference_module(tmp_path, "planted")
    x = np.array([0.3, -0.7, 1.1])
    first = coarsen.grad(m.f, target="numpy")(x, 0.9)
    (entry,) = cache.glob("program_*.json")
    victim = tmp_path / "victim.txt"
    victim.write_text("not yours")
    entry.unlink()
    entry.symlink_to(victim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(coarsen.grad(m.f, target="numpy")(x, 0.9), first, rtol=1e-15)
    assert victim.read_text() == "not yours"
    assert not entry.is_symlink()   # replaced by a fresh entry, the link itself (not its target)


# ---------------------------------------------------------------------- unusable directories
def _fresh(tmp_path: Path, name: str) -> Path:
    return tmp_path / name


def test_a_directory_writable_by_others_is_refused(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(shared))
    with pytest.warns(RuntimeWarning, match="writable by other users"):
        assert diskcache.cache_dir() is None
    m = reference_module(tmp_path, "shared_dir")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grad = coarsen.grad(m.f)(np.array([0.3, -0.7, 1.1]), 0.9)
    assert np.all(np.isfinite(grad))
    assert list(shared.iterdir()) == []   # nothing written there


def test_a_linked_or_uncreatable_directory_turns_the_cache_off(tmp_path, monkeypatch):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(link))
    with pytest.warns(RuntimeWarning, match="symbolic link"):
        assert diskcache.cache_dir() is None
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(blocker / "cache"))
    with pytest.warns(RuntimeWarning, match="cannot create"):
        assert diskcache.cache_dir() is None
    m = reference_module(tmp_path, "uncreatable_dir")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grad = coarsen.grad(m.f)(np.array([0.3, -0.7, 1.1]), 0.9)   # cpu, compiled in memory
    assert np.all(np.isfinite(grad))


def test_a_new_directory_is_private(tmp_path, monkeypatch):
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(tmp_path / "new" / "cache"))
    path = diskcache.cache_dir()
    assert path is not None and (path.stat().st_mode & 0o777) == 0o700


# ---------------------------------------------------------------------- concurrency
def test_threads_compiling_the_same_function(tmp_path, monkeypatch):
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(tmp_path / "cache"))
    m = reference_module(tmp_path, "threaded")
    x, y = np.array([0.3, -0.7, 1.1]), 0.9
    expected = np.cos(x * y) * y * m.C
    for round_ in range(2):
        results, errors = [], []

        def work():
            try:
                results.append(coarsen.grad(m.f)(x, y))
            except BaseException as err:   # reported below
                errors.append(err)
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        for r in results:
            np.testing.assert_allclose(r, expected, rtol=1e-13)


@pytest.mark.slow
def test_processes_compiling_the_same_function(tmp_path):
    root = tmp_path / "pkg"
    root.mkdir()
    write_package(root)
    env = dict(os.environ, COARSEN_CACHE_DIR=str(tmp_path / "cache"), PYTHONDONTWRITEBYTECODE="1")
    script = RUN.format(root=str(root), repo=str(REPO), targets=("cpu",))
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, cwd=root, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        for got in json.loads(out.strip().splitlines()[-1]).values():
            np.testing.assert_allclose(got["grad"], expected_gradient(root), rtol=1e-13)


def test_a_full_directory_turns_the_cache_off_with_a_warning(tmp_path, monkeypatch):
    import errno
    import tempfile
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(tmp_path / "full"))

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(tempfile, "mkstemp", no_space)
    m = reference_module(tmp_path, "full_dir")
    x, y = np.array([0.3, -0.7, 1.1]), 0.9
    with pytest.warns(RuntimeWarning, match="cannot write to the cache directory .*No space left"):
        grad = coarsen.grad(m.f)(x, y)
    np.testing.assert_allclose(grad, np.cos(x * y) * y * m.C, rtol=1e-13)
    assert diskcache.cache_dir() is None


@pytest.mark.parametrize("target", ["numpy", "cpu"])
def test_transformed_transforms_see_new_module_arrays(tmp_path, monkeypatch, target):
    """hessian / grad(grad(f)) build from IR: their array constants name the compiled module
    too (they were put into a module named by its source only: Numba served old values)."""
    monkeypatch.setenv("COARSEN_CACHE_DIR", str(tmp_path / "cache"))
    m = make_module(tmp_path, f"nested_{target}", """
        import numpy as np

        W = np.array([1.0, 2.0, 3.0])


        def f(x):
            return np.sum(W * x * x * x)
    """)
    x = np.ones(3)
    np.testing.assert_allclose(coarsen.hessian(m.f, target=target)(x).diagonal(), 6.0 * m.W)
    m.W = np.array([10.0, 20.0, 30.0])
    np.testing.assert_allclose(coarsen.hessian(m.f, target=target)(x).diagonal(), 6.0 * m.W)


METHODS = textwrap.dedent("""
    import numpy as np


    class Base:
        def ap(self, x):
            return x * 3.0


    class Scaler(Base):
        k = 2.0

        def apply(self, x):
            return x * x * self.k

        @classmethod
        def act(cls, x):
            return np.sin(x) * cls.k


    S = Scaler()


    def f(x):
        return S.apply(x) + Scaler.act(x) + S.ap(x)
""")

RUN_PLAIN_AND_COMPILED = textwrap.dedent("""
    import json, sys
    sys.path[:0] = [{root!r}, {repo!r}]
    import coarsen
    import methods
    out = {{}}
    for target in ("numpy", "cpu"):
        v, g = coarsen.value_and_grad(methods.f, target=target)(0.7)
        out[target] = [v, g]
    eps = 1e-6
    out["plain"] = [methods.f(0.7), (methods.f(0.7 + eps) - methods.f(0.7 - eps)) / (2 * eps)]
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_editing_a_method_between_processes_is_seen(tmp_path):
    """A method called on a module-level object (plain, classmethod, inherited) was keyed by
    its name only: an edited body was served stale from
    the disk cache (red team round 5, G1)."""
    root, cache = tmp_path / "pkg", tmp_path / "cache"
    root.mkdir()
    (root / "methods.py").write_text(METHODS)
    env = dict(os.environ, COARSEN_CACHE_DIR=str(cache), PYTHONDONTWRITEBYTECODE="1")
    script = RUN_PLAIN_AND_COMPILED.format(root=str(root), repo=str(REPO))
    edits = [("nothing", "return x * 3.0", "return x * 3.0"),
             ("method", "return x * x * self.k", "return x * x * self.k * 1.5"),
             ("classmethod", "return np.sin(x) * cls.k", "return np.cos(x) * cls.k"),
             ("inherited method", "return x * 3.0", "return x * 5.0")]
    for label, old, new in edits:
        edit(root / "methods.py", old, new)
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                              cwd=root)
        assert done.returncode == 0, done.stderr[-3000:]
        out = json.loads(done.stdout.strip().splitlines()[-1])
        value, slope = out.pop("plain")
        for target, (v, g) in out.items():
            assert v == pytest.approx(value, rel=1e-13), (label, target)
            assert g == pytest.approx(slope, rel=1e-6), (label, target)
