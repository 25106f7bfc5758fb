"""Central differences shared by the tests of the decompositions (eigh, qr, lstsq, svd,
multivariate_normal): the directional derivative of a plain NumPy function, the reference that
coarsen's derivatives and torch's are held to."""
from __future__ import annotations


def central_difference(f, args, k: int, direction, h: float = 1e-6) -> float:
    """(f(..., x_k + h d, ...) - f(..., x_k - h d, ...)) / 2h."""
    plus, minus = list(args), list(args)
    plus[k] = args[k] + h * direction
    minus[k] = args[k] - h * direction
    return (f(*plus) - f(*minus)) / (2 * h)


def central_difference_1(f, x, direction, h: float = 1e-6) -> float:
    """The central difference of a function of one argument."""
    return central_difference(f, (x,), 0, direction, h)
