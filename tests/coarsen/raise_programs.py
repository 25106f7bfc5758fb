"""Programs with `assert` for test_raise.py (a test module's asserts are rewritten by pytest,
so its functions' code is not their source)."""
import numpy as np


def asserted(x):
    assert x.ndim == 1, "a vector"          # decided when tracing (the rank)
    assert np.all(x > 0), "x must be positive"
    assert x.shape[0] >= 2                  # no message
    return np.sum(np.log(x))
