"""What a new process pays before a cached program's first call (`benchmarks.startup` times it)."""
from __future__ import annotations

from importlib import metadata

import pytest

from coarsen import deps


@pytest.mark.parametrize("package", ["numpy", "numba", "llvmlite", "sympy"])
def test_installed_versions_are_the_metadata_versions(package):
    """The cache key's library versions, found without importing importlib.metadata, are the
    versions pip installed (a new NumPy or Numba must miss the cache)."""
    assert deps._installed_version(package) == metadata.version(package)


def test_versions_of_a_missing_package():
    assert deps._installed_version("coarsen_surely_not_installed_pkg") == "-"
