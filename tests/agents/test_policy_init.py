"""The policy's initial weights are drawn per feature name (issue #16): adding, removing or
reordering a feature leaves every other feature's initial row bit-identical, and the draw is
the same in every process (a stable hash of the name, not Python's salted `hash`)."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from agents.policy import N_FEATURES, init_params
from agents.policy.features import DENSE, FEATURE_NAMES, N_HASHED


def _rows(p: dict, names) -> dict[str, bytes]:
    return {n: p["W1"][i].tobytes() for i, n in enumerate(names)}


def test_feature_names_name_every_column_once():
    assert len(FEATURE_NAMES) == N_FEATURES == len(DENSE) + N_HASHED
    assert len(set(FEATURE_NAMES)) == N_FEATURES


@pytest.mark.parametrize("seed", [0, 3])
def test_adding_a_feature_leaves_every_other_features_initial_weights_bit_identical(seed):
    names = list(FEATURE_NAMES)
    p = init_params(len(names), 16, seed, names)
    # the default (no names) is the policy's own layout
    q = init_params(N_FEATURES, 16, seed)
    assert all(np.array_equal(p[k], q[k]) for k in p)
    # a feature added among the named ones (as a new dense feature would be: the hashed
    # buckets move one column right) and one at the end
    grown = names[:50] + ["i_new_feature"] + names[50:] + ["another_new"]
    g = init_params(len(grown), 16, seed, grown)
    rows, grown_rows = _rows(p, names), _rows(g, grown)
    assert all(grown_rows[n] == rows[n] for n in names)
    assert grown_rows["i_new_feature"] != grown_rows["another_new"]
    assert g["w2"].tobytes() == p["w2"].tobytes()
    assert np.array_equal(g["b1"], p["b1"]) and not g["w0"].any()
    # removing and reordering features: the same rows by name
    fewer = [n for n in reversed(names) if not n.startswith("kind:")]
    f = init_params(len(fewer), 16, seed, fewer)
    assert all(_rows(f, fewer)[n] == rows[n] for n in fewer)


def test_rows_differ_across_features_and_seeds_and_have_the_documented_scale():
    p0, p1 = init_params(N_FEATURES, 16, 0), init_params(N_FEATURES, 16, 1)
    assert not np.array_equal(p0["W1"], p1["W1"])
    assert len({r.tobytes() for r in p0["W1"]}) == N_FEATURES
    assert abs(p0["W1"].std() - 1 / np.sqrt(220)) < 0.01
    assert abs(p0["w2"].std() - 0.01) < 0.005


def test_names_must_fit_the_feature_count():
    with pytest.raises(ValueError):
        init_params(3, 4, 0, ["a", "b"])
    with pytest.raises(ValueError):
        init_params(2, 4, 0, ["a", "a"])
    assert init_params(5, 4, 0)["W1"].shape == (5, 4)  # another layout: positional names


def _digest() -> str:
    p = init_params(N_FEATURES, 16, 7)
    return hashlib.sha256(b"".join(p[k].tobytes() for k in sorted(p))).hexdigest()


def test_the_same_seed_gives_the_same_weights_in_another_process():
    code = ("import hashlib; from agents.policy import N_FEATURES, init_params; "
            "p = init_params(N_FEATURES, 16, 7); "
            "print(hashlib.sha256(b''.join(p[k].tobytes() for k in sorted(p))).hexdigest())")
    env = dict(os.environ, PYTHONHASHSEED="12345")  # another salt for Python's own hash
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()[-1]
    assert out == _digest()
