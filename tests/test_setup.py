"""The set-up a contributor types, checked: an editable install in a fresh venv.

`pip install -e .` with build isolation (pip's default) must give a working `import coarsen`
after pip has deleted its isolated build environment, from any working directory, and must map
all five packages onto this tree (an edit shows up without reinstalling).

The venv is fresh but borrows the dependencies from the running interpreter instead of
installing them again: a `.pth` file adds a directory of links to everything in this
interpreter's site-packages *except* our own packages (CI has just run `pip install '.[test]'`,
so a non-editable copy of coarsen sits there and would shadow the editable one).
"""
from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("phicalc", "coarsen", "kernels", "hyperopt", "agents")


def _ours(name: str) -> bool:
    """A site-packages entry that belongs to this distribution (package, metadata, editable hook)."""
    stem = name.split("-")[0].split(".")[0].lower()
    return stem in PACKAGES or "__editable__" in name


def _dependency_dir(tmp: Path) -> Path:
    deps = tmp / "deps"
    deps.mkdir()
    sources = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()]
    for source in dict.fromkeys(Path(s) for s in sources):
        if not source.is_dir():
            continue
        for entry in source.iterdir():
            if not _ours(entry.name) and not (deps / entry.name).exists():
                (deps / entry.name).symlink_to(entry)
    return deps


def _run(cmd: list[str], cwd: Path, env: dict, timeout: int = 300) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.slow
def test_editable_install_in_fresh_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["COARSEN_CACHE_DIR"] = str(tmp_path / "cache")
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                   tmp_path, env).strip()
    deps = _dependency_dir(tmp_path)
    (Path(purelib) / "zz_dependencies.pth").write_text(f"import site; site.addsitedir({str(deps)!r})\n")

    # what a contributor types (with build isolation), less the dependencies, borrowed above
    _run([str(python), "-m", "pip", "install", "--no-deps", "--disable-pip-version-check", "-q",
          "-e", str(ROOT)], tmp_path, env, timeout=600)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "first_use.py").write_text(
        "import importlib\n"
        f"for name in {PACKAGES!r}:\n"
        "    print(importlib.import_module(name).__file__)\n"
        "import coarsen\n"
        "def f(x):\n"
        "    return x * x\n"
        "print(coarsen.grad(f, target='numpy')(3.0))\n")
    where = _run([str(python), "first_use.py"], elsewhere, env)
    *files, value = where.split()
    assert [Path(f).resolve().parent for f in files] == [ROOT / p for p in PACKAGES], where
    assert float(value) == 6.0

    # one small test file of the tree, run from another working directory
    out = _run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
                str(ROOT / "tests" / "phicalc" / "test_phicalc_terms.py")], elsewhere, env, timeout=600)
    assert " passed" in out


@pytest.mark.slow
def test_wheel_holds_all_five_packages(tmp_path: Path) -> None:
    """`pip install .` installs every module of the five packages (and no tests or benchmarks).
    Built from a copy, so that setuptools' build/ and egg-info stay out of the tree."""
    import shutil
    import zipfile
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", "__pycache__", "*.egg-info", "build", "runs", ".hypothesis", ".pytest_cache", ".venv"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q",
          "-w", str(tmp_path / "dist"), str(src)], tmp_path, env, timeout=600)
    (wheel,) = (tmp_path / "dist").glob("coarsen-*.whl")
    names = {n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".py")}
    expected = {p.relative_to(src).as_posix() for pkg in PACKAGES for p in (src / pkg).rglob("*.py")}
    assert names == expected


def _fresh(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return _run([sys.executable, "-c", code], ROOT, env, timeout=300)


def test_import_coarsen_is_light() -> None:
    """`import coarsen` loads neither Numba (until a "cpu" program runs) nor the symbolic
    compiler nor torch; `coarsen.torch`, `coarsen.grad`, ... load on first use."""
    out = _fresh("import sys, coarsen\n"
                 "print(sorted(m for m in ('numba', 'sympy', 'networkx', 'torch', 'coarsen.api') if m in sys.modules))\n"
                 "print(callable(coarsen.grad), callable(coarsen.vmap), coarsen.UnsupportedError.__name__)\n"
                 "print(callable(coarsen.torch.function), 'torch' in sys.modules)\n"
                 "print(sorted(set(coarsen.__all__) - set(dir(coarsen))))\n")
    assert out.split("\n")[:4] == ["[]", "True True UnsupportedError", "True True", "[]"], out


def test_vmap_stays_the_function_after_its_module_is_imported() -> None:
    """Importing the submodule coarsen.vmap must not replace the public function coarsen.vmap."""
    out = _fresh("import coarsen\nfrom coarsen.vmap import VMapped\nimport coarsen.vmap\n"
                 "print(callable(coarsen.vmap), type(coarsen.vmap).__name__)\n")
    assert out.strip() == "True function", out
