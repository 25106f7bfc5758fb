"""Array utilities that generated programs call as `rt.<name>`.

Plain NumPy functions: nothing here knows about differentiation. The "cpu" target compiles
the same calls through Numba: `kernels.numba_runtime` registers a Numba implementation for
each function (specialised on ranks), so one generated source serves both targets.
"""
from __future__ import annotations

import numpy as np
import numpy as _numpy   # the host's NumPy, also where `np` is re-bound to CuPy (`kernels.cuda`)

from kernels import scans, special


def unbroadcast(x, shape):
    """Sum `x` down to `shape` (the inverse of NumPy broadcasting)."""
    x = np.asarray(x)
    if x.shape == tuple(shape):
        return x
    if len(shape) == 0:
        return x.sum()
    lead = x.ndim - len(shape)
    if lead:
        x = x.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and x.shape[i] != 1)
    if axes:
        x = x.sum(axis=axes, keepdims=True)
    return np.broadcast_to(x, shape)


def matmul(a, b):
    """a @ b for ranks 1-2."""
    return a @ b


def _batches(a, b, what: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{what}: the batch lengths {a.shape[0]} and {b.shape[0]} differ")


def bmatmul(a, b):
    """Batched matrix product of rank-3 arrays: out[p] = a[p] @ b[p] (equal batch lengths)."""
    _batches(a, b, "batched matmul")
    return np.matmul(a, b)


def bmatmul_nt(a, b):
    """out[p] = a[p] @ b[p].T (the adjoint of bmatmul's first operand)."""
    _batches(a, b, "batched matmul")
    return np.matmul(a, np.swapaxes(b, 1, 2))


def bmatmul_tn(a, b):
    """out[p] = a[p].T @ b[p] (the adjoint of bmatmul's second operand)."""
    _batches(a, b, "batched matmul")
    return np.matmul(np.swapaxes(a, 1, 2), b)


def kept_indices(n, idx):
    """The int64 positions in [0, n) that the indices idx (negative: from the end, already
    checked to be in [-n, n)) do not name, ascending: what np.delete keeps."""
    keep = np.ones(n, dtype=np.bool_)
    keep[idx] = False
    return np.flatnonzero(keep).astype(np.int64)


def svd_uv(a):
    """U and V^T of the thin SVD of a matrix (singular values descending)."""
    u, _, vt = np.linalg.svd(a, full_matrices=False)
    return u, vt


def svdvals(a):
    """The singular values of a matrix, descending."""
    return np.linalg.svd(a, compute_uv=False)


def svdvals_jvp(a, da):
    """d sigma_i = u_i^T dA v_i for every singular value of a (the JVP of `svdvals`)."""
    u, vt = svd_uv(a)
    return np.sum(u * (da @ vt.T), axis=0)


def _host(a):
    """A host (NumPy) array of `a` (a CuPy array is copied from the device)."""
    return _numpy.asarray(a.get() if hasattr(a, "get") else a, dtype=_numpy.float64)


def eigh_w(a, lower):
    """np.linalg.eigh(a, UPLO)'s eigenvalues (ascending), by the host's NumPy on every target
    (the cpu target calls it in object mode), so the numbers are NumPy's LAPACK's."""
    return np.asarray(_numpy.linalg.eigh(_host(a), UPLO="L" if lower else "U")[0])


def eigvalsh(a, lower):
    """np.linalg.eigvalsh(a, UPLO): LAPACK's values-only driver, whose last digits may differ
    from eigh's."""
    return np.asarray(_numpy.linalg.eigvalsh(_host(a), UPLO="L" if lower else "U"))


def eigh_v(a, lower):
    """np.linalg.eigh(a, UPLO)'s eigenvectors (columns), NumPy's own: the signs LAPACK chose,
    which the derivative must follow (see `eigh_w`)."""
    return np.asarray(_numpy.linalg.eigh(_host(a), UPLO="L" if lower else "U")[1])


# eigenvalues closer than this (relative to the largest magnitude) are taken as repeated, and a
# component of an adjoint or tangent below _EIGH_SMALL (relative to its largest) as zero
_EIGH_CLOSE = 1e-9
_EIGH_SMALL = 1e-8


def _repeated(w):
    n = w.shape[0]
    scale = _numpy.max(_numpy.abs(w)) if n else 0.0
    gap = w[None, :] - w[:, None]
    off = ~_numpy.eye(n, dtype=bool)
    return gap, off, off & (_numpy.abs(gap) <= _EIGH_CLOSE * scale)


def eigh_values_grad(w, v, dw):
    """The adjoint of a symmetric matrix S from that of its eigenvalues: V diag(dw) V^T, and
    whether it is undefined: two eigenvalues are equal (the sorted eigenvalues are not
    differentiable there) and their adjoints differ (equal adjoints, as of a sum or any
    symmetric function of them, give the projector's multiple, which is defined)."""
    w, v, dw = _host(w), _host(v), _host(dw)
    _, _, close = _repeated(w)
    big = _numpy.max(_numpy.abs(dw)) if dw.shape[0] else 0.0
    bad = bool(_numpy.any(close & (_numpy.abs(dw[None, :] - dw[:, None]) > _EIGH_SMALL * big)))
    return np.asarray((v * dw) @ v.T), bad


def eigh_vectors_grad(w, v, dv):
    """The adjoint of a symmetric S from that of its eigenvectors (Giles 2008, symmetrised):
    V F V^T with F_ij = (X_ij - X_ji) / (2 (w_j - w_i)), X = V^T dV; and whether it is
    undefined: two eigenvalues are equal and the adjoint couples their eigenvectors (X_ij or
    X_ji nonzero). Not only where X_ij != X_ji: the term is then a limit 0/0 whose value the
    adjoint at S does not determine (a projector onto the repeated eigenvalue's eigenspace and
    <C, S> - c (w_1 + w_2) have the same X there and different derivatives), so both refuse;
    where the adjoint leaves the pair alone the term is zero."""
    w, v, dv = _host(w), _host(v), _host(dv)
    x = v.T @ dv
    gap, off, close = _repeated(w)
    skew = x - x.T
    big = _numpy.max(_numpy.abs(x)) if x.size else 0.0
    bad = bool(_numpy.any(close & (_numpy.abs(x) > _EIGH_SMALL * big)))
    keep = off & ~close
    f = _numpy.where(keep, skew / (2.0 * _numpy.where(keep, gap, 1.0)), 0.0)
    return np.asarray(v @ f @ v.T), bad


def fold_triangle(g, lower):
    """The adjoint of A from that of S = the symmetric matrix of A's lower (upper) triangle:
    g's symmetric parts summed into that triangle, zero in the other."""
    t = g + g.T
    t = np.tril(t) if lower else np.triu(t)
    return t - np.diag(np.diag(g))


def _rcond(rcond):
    return None if rcond != rcond else rcond   # NaN stands for NumPy's default, None


def lstsq(a, b, rcond):
    """np.linalg.lstsq(a, b, rcond)[0] (rcond NaN: None), NumPy's own on every target."""
    return np.asarray(_numpy.linalg.lstsq(_host(a), _host(b), rcond=_rcond(rcond))[0])


def lstsq_rank(a, rcond):
    """The rank np.linalg.lstsq(a, b, rcond) finds for a (its third result)."""
    a = _host(a)
    return int(_numpy.linalg.lstsq(a, _numpy.zeros(a.shape[0]), rcond=_rcond(rcond))[2])


def qr_q(a):
    """np.linalg.qr(a)'s Q (mode 'reduced'), NumPy's own (its LAPACK's signs) on every target."""
    return np.asarray(_numpy.linalg.qr(_host(a))[0])


def qr_r(a):
    """np.linalg.qr(a)'s R (mode 'reduced'; mode 'r' gives the same numbers)."""
    return np.asarray(_numpy.linalg.qr(_host(a))[1])


def qr_grad(q, r, gq, gr):
    """The adjoint of A = QR (m >= n, reduced, R invertible) from those of Q and R:
    (gQ + Q N) R^-T, N = triu(P) + triu(P, 1)^T, P = gR R^T - Q^T gQ; and whether it is
    undefined (m < n, or a diagonal element of R negligible: A is rank-deficient)."""
    m, n = q.shape[0], r.shape[1]
    d = np.abs(np.diag(r))
    bad = bool(m < n or (n > 0 and np.min(d) <= max(m, n) * 2.220446049250313e-16 * np.max(d)))
    if bad:
        return np.zeros((m, n)), True
    p = np.dot(gr, np.ascontiguousarray(r.T)) - np.dot(np.ascontiguousarray(q.T), gq)
    nn = np.triu(p) + np.ascontiguousarray(np.triu(p, 1).T)
    y = gq + np.dot(q, nn)
    return np.ascontiguousarray(np.linalg.solve(r, np.ascontiguousarray(y.T)).T), False


# ------------------------------------------------------------ svd: NumPy's own factors
# which factor: 0 U, 1 s, 2 V^T (an int, so the cpu target's overloads take it as one)
SVD_U, SVD_S, SVD_VT = 0, 1, 2


def svd_u(a, full):
    """np.linalg.svd(a, full_matrices)'s U, by the host's NumPy on every target (its LAPACK's
    signs, which the derivative follows; the cpu target calls it in object mode)."""
    return np.asarray(_numpy.linalg.svd(_host(a), full_matrices=full)[0])


def svd_s(a, alone):
    """The singular values, descending: np.linalg.svd(a)'s s, or (alone) those of
    np.linalg.svd(a, compute_uv=False), LAPACK's values-only driver (other last digits)."""
    a = _host(a)
    return np.asarray(_numpy.linalg.svd(a, compute_uv=False) if alone else _numpy.linalg.svd(a)[1])


def svd_vt(a, full):
    """np.linalg.svd(a, full_matrices)'s V^T (see `svd_u`)."""
    return np.asarray(_numpy.linalg.svd(_host(a), full_matrices=full)[2])


def _svd_thin(a, full):
    """NumPy's U, s, V^T of a (full_matrices as asked, so the signs are those the user got),
    cut to the thin factors (k = min(m, n) columns of U, rows of V^T), and where singular values
    are repeated (i, j: within _EIGH_CLOSE of the largest) or zero."""
    u, s, vt = _numpy.linalg.svd(a, full_matrices=full)
    k = s.shape[0]
    u, vt = u[:, :k], vt[:k]
    scale = _numpy.max(s) if k else 0.0
    close = _numpy.abs(s[None, :] - s[:, None]) <= _EIGH_CLOSE * scale
    _numpy.fill_diagonal(close, False)
    return u, s, vt, close, s <= _EIGH_CLOSE * scale


def _coupled(x, close):
    """Whether x (k x k) has a component, relative to its largest, where `close` is set."""
    big = _numpy.max(_numpy.abs(x)) if x.size else 0.0
    return bool(_numpy.any(close & (_numpy.abs(x) > _EIGH_SMALL * big)))


def svd_grad(a, d, which, full):
    """The adjoint of A from that of one factor of its SVD (`which`: SVD_U, SVD_S or SVD_VT),
    and whether it is undefined. With k = min(m, n), thin U, s, V (Townsend 2016; as torch):
    U [(skew(U^T gU) s_j + s_i skew(V^T gV)) / (s_j^2 - s_i^2) + diag(gs)] V^T
    + (I - U U^T) gU diag(1/s) V^T + U diag(1/s) gV^T (I - V V^T), skew(X) = X - X^T.
    Undefined (refused by the caller): U's or V's adjoint where singular values repeat and it
    couples their vectors, or where one is zero; s's where repeated ones have unequal adjoints
    or a zero one has a nonzero adjoint (a kink, as |x| at 0); full_matrices' extra columns of U
    (rows of V^T) with a nonzero adjoint (any orthonormal completion would do)."""
    a, d = _host(a), _host(d)
    m, n = a.shape
    u, s, vt, close, zero = _svd_thin(a, full)
    k = s.shape[0]
    gs = _numpy.zeros(k)
    inner = _numpy.zeros((k, k))
    side = _numpy.zeros((m, n))
    bad = False
    if which == SVD_S:
        gs = d
        big = _numpy.max(_numpy.abs(d)) if k else 0.0
        bad = _coupled(d[None, :] - d[:, None], close) or bool(_numpy.any(zero & (_numpy.abs(d) > _EIGH_SMALL * big)))
    else:
        g = d[:, :k] if which == SVD_U else d[:k].T   # gU (m x k) or gV (n x k)
        extra = d[:, k:] if which == SVD_U else d[k:]
        basis = u if which == SVD_U else vt.T
        x = basis.T @ g
        used = bool(_numpy.any(g != 0.0))
        bad = bool(_numpy.any(extra != 0.0)) or _coupled(x, close) or (used and bool(_numpy.any(zero)))
        if not bad:
            e = s[None, :] ** 2 - s[:, None] ** 2
            _numpy.fill_diagonal(e, 1.0)
            skew = x - x.T
            inner = (skew * s[None, :] if which == SVD_U else s[:, None] * skew) / e
            rest = (g - basis @ x) / s[None, :]   # (I - B B^T) g diag(1/s)
            side = rest @ vt if which == SVD_U else (u @ rest.T)
    if bad:
        return np.asarray(_numpy.zeros((m, n))), True
    inner = inner + _numpy.diag(gs)
    return np.asarray(u @ inner @ vt + side), False


def _svd_tangents(a, da, full):
    """Forward mode (as JAX's svd_jvp_rule): P = U^T dA V, ds = diag(P),
    dU = U (F o (P S + S P^T)) + (I - U U^T) dA V S^-1, dV = V (F o (S P + P^T S)) +
    (I - V V^T) dA^T U S^-1, F_ij = 1 / (s_j^2 - s_i^2) off the diagonal; and whether U's / V's
    and s's tangents are undefined (see `svd_grad`; s's: repeated values whose block of the
    symmetric part of P is not a multiple of the identity, or a zero one with any nonzero
    tangent: the derivative of such sorted values is no linear map)."""
    a, da = _host(a), _host(da)
    m, n = a.shape
    u, s, vt, close, zero = _svd_thin(a, full)
    k = s.shape[0]
    v = vt.T
    p = u.T @ da @ v
    nonzero = bool(_numpy.any(da != 0.0))
    sym = 0.5 * (p + p.T)
    diag = _numpy.diag(p)
    spread = diag[None, :] - diag[:, None]
    bad_s = _coupled(sym, close) or _coupled(spread, close) or (nonzero and bool(_numpy.any(zero)))
    bad_uv = nonzero and bool(_numpy.any(close) or _numpy.any(zero))
    safe = _numpy.where(zero, 1.0, s)
    e = s[None, :] ** 2 - s[:, None] ** 2
    off = ~_numpy.eye(k, dtype=bool) & ~close
    f = _numpy.where(off, 1.0 / _numpy.where(off, e, 1.0), 0.0)
    du = u @ (f * (p * s[None, :] + s[:, None] * p.T))
    dv = v @ (f * (s[:, None] * p + p.T * s[None, :]))
    if m > k:
        dav = da @ v
        du = du + (dav - u @ (u.T @ dav)) / safe[None, :]
    if n > k:
        dau = da.T @ u
        dv = dv + (dau - v @ (v.T @ dau)) / safe[None, :]
    return diag, du, dv, bad_s, bad_uv


SVD_UNDEFINED = "np.linalg.svd: the {mode}derivative of the {what} is undefined here: singular values repeat or are zero"
SVD_EXTRA = {"": "full_matrices' extra singular vectors are used",
             "forward-mode ": "full_matrices=True adds singular vectors (a matrix that is not square), whose tangent "
                              "is undefined whether they are used or not (full_matrices=False has the same leading ones)"}
SVD_HINT = ("the singular vectors are not unique where singular values repeat or are zero (and the singular values "
            "have a kink at zero); functions of the singular values alone that are smooth there (np.sum(s ** 2)) "
            "are differentiated, or perturb the matrix; with full_matrices=True only the first min(m, n) columns "
            "of U (rows of V^T) have a derivative")


def svd_undefined(which, mode):
    """The message of a refused derivative of one factor (`mode`: "" or "forward-mode ")."""
    what = {SVD_U: "U", SVD_S: "singular values", SVD_VT: "V^T"}[which]
    message = SVD_UNDEFINED.format(mode=mode, what=what)
    return message if which == SVD_S else f"{message}, or {SVD_EXTRA[mode]}"


def svd_values_jvp(a, da, full, file, line, col):
    """The tangent of np.linalg.svd's singular values in the direction da: diag(U^T dA V);
    where it is undefined (`_svd_tangents`) a refusal at the user's file:line:col. Raised here,
    with the tangent, so that an unused tangent (np.linalg.svd(a)[1] leaves U's unused) refuses
    nothing."""
    diag, _, _, bad, _ = _svd_tangents(a, da, full)
    if bad:
        raise Refusal(svd_undefined(SVD_S, "forward-mode "), file, line, col, SVD_HINT)
    return np.asarray(diag)


def svd_jvp(a, da, which, full, file, line, col):
    """The tangent of U (which SVD_U) or V^T (SVD_VT) of np.linalg.svd(a, full_matrices) in the
    direction da; a refusal where it is undefined (see `svd_values_jvp`): repeated or zero
    singular values, or full_matrices' extra columns of U / rows of V^T (m != n)."""
    _, du, dv, _, bad = _svd_tangents(a, da, full)
    m, n = _host(a).shape
    extra = full and ((which == SVD_U and m > n) or (which == SVD_VT and n > m))
    if bad or (extra and bool(_numpy.any(_host(da) != 0.0))):
        raise Refusal(svd_undefined(which, "forward-mode "), file, line, col, SVD_HINT)
    if which == SVD_U:
        out = _numpy.zeros((m, m if full else du.shape[1]))
        out[:, :du.shape[1]] = du
    else:
        out = _numpy.zeros((n if full else dv.shape[1], n))
        out[:dv.shape[1]] = dv.T
    return np.asarray(out)


# ------------------------------------------------------------ fsum, bincount
def fsum(x):
    """math.fsum of a vector, by the host's math module on every target (correctly rounded; its
    ValueError for inf + -inf, OverflowError for an intermediate overflow)."""
    import math

    return _numpy.float64(math.fsum(_host(x).tolist()))


def _bins(x, n):
    x = _numpy.asarray(x.get() if hasattr(x, "get") else x)
    if n < 0:
        raise ValueError("'minlength' must not be negative")
    if x.shape[0] and x.min() < 0:
        raise ValueError("'list' argument must have no negative elements")
    return x, max(int(x.max()) + 1 if x.shape[0] else 0, int(n))


def bincount(x, n):
    """np.bincount(x, minlength=n): int64 counts."""
    x, size = _bins(x, n)
    return np.asarray(_numpy.bincount(x, minlength=size).astype(_numpy.int64))


def bincount_weights(x, w, n):
    """np.bincount(x, w, minlength=n): w summed per bin in x's order (NumPy's loop)."""
    x, size = _bins(x, n)
    w = _host(w)
    if w.shape[0] != x.shape[0]:
        raise ValueError("The weights and list don't have the same length.")
    return np.asarray(_numpy.bincount(x, weights=w, minlength=size))


def take_bins(d, x):
    """d[x]: the adjoint of bincount's weights from that of its sums."""
    return d[x]


def outer(a, b):
    """np.outer of two vectors."""
    return np.outer(a, b)


def broadcast_shapes(a, b):
    """np.broadcast_shapes of two shapes."""
    return np.broadcast_shapes(a, b)


def reshape(x, shape):
    """np.reshape, also for non-contiguous x (Numba reshapes only contiguous arrays)."""
    return np.reshape(x, shape)


def to_scalar(x) -> float:
    """The total of an array; a scalar unchanged (a scalar's adjoint from an array use)."""
    return float(np.sum(x))


def apart(a, b):
    """Whether the elements of two 1-d arrays lie in disjoint memory (their extents, from the
    data pointers and strides, do not meet; interleaved views count as meeting). Fused loops
    check it before updating several views of one buffer element by element."""
    if a.shape[0] == 0 or b.shape[0] == 0:
        return True
    a0 = np.int64(a.ctypes.data)
    b0 = np.int64(b.ctypes.data)
    a1 = a0 + np.int64(a.shape[0] - 1) * np.int64(a.strides[0])
    b1 = b0 + np.int64(b.shape[0] - 1) * np.int64(b.strides[0])
    alo, ahi = min(a0, a1), max(a0, a1) + np.int64(a.itemsize)
    blo, bhi = min(b0, b1), max(b0, b1) + np.int64(b.itemsize)
    return bool(ahi <= blo or bhi <= alo)


def fresh(x):
    """A new float64 array holding x (an adjoint buffer that may be updated in place)."""
    return np.array(x, dtype=np.float64)


def cotangent(ct, shape):
    """A new float64 array of `shape` holding the caller's cotangent `ct` (an array of that
    shape, or a scalar broadcast to it): the backward may update it in place."""
    out = np.empty(shape, dtype=np.float64)
    out[...] = ct
    return out


def broadcast_scalar(d, shape):
    """A full array of `shape` holding the scalar d."""
    return np.full(shape, d, dtype=np.float64)


def expand_axis(d, shape, axis):
    """d, the result of reducing `axis` away, broadcast back to `shape`."""
    return np.broadcast_to(np.expand_dims(d, axis), shape)


def expand_keep(d, shape):
    """d, a reduction with keepdims, broadcast back to `shape`."""
    return np.broadcast_to(d, shape)


def _reduce(name):
    fn = getattr(np, name)

    def axis_drop(x, axis):
        return fn(x, axis=axis)

    def axis_keep(x, axis):
        return fn(x, axis=axis, keepdims=True)

    axis_drop.__name__, axis_keep.__name__ = f"{name}_axis", f"{name}_axis_keep"
    return axis_drop, axis_keep


sum_axis, sum_axis_keep = _reduce("sum")
mean_axis, mean_axis_keep = _reduce("mean")
prod_axis, prod_axis_keep = _reduce("prod")
max_axis, max_axis_keep = _reduce("max")
min_axis, min_axis_keep = _reduce("min")


def max_all(x):
    """np.max(x) (the "cpu" target's source calls it for `np.max`: `kernels.vecmath`). NumPy's
    max/min reductions are SIMD loops: where the reduced values hold both -0.0 and 0.0 (or
    NaNs), which of them comes out depends on the length, the layout and the axis (lane order),
    not on a rule a scalar loop could follow. Machine code reduces with Numba and, only where a
    result is a zero or a NaN, takes NumPy's own result (`kernels.numba_runtime`), so both
    targets and both tiers give NumPy's bits."""
    return np.max(x)


def min_all(x):
    """np.min(x); see `max_all`."""
    return np.min(x)


def zero_or_nan(r):
    """Whether a max/min result (a number or an array) holds a zero or a NaN: where the fused
    loop's own answer may not be NumPy's (see `max_all`)."""
    r = np.asarray(r)
    return bool(np.any((r == 0) | (r != r)))


def _picked(x, r):
    """Where x is the element max/min picked: x == r, or x is NaN where r is (max/min
    propagate NaN, as np.argmax/argmin pick the first NaN)."""
    return (x == r) | ((x != x) & (r != r))


def extremum_mask_all(x, r):
    """1.0 at the first position where x == r (the element max/min picked; the first NaN
    when r is NaN), else 0.0."""
    mask = np.zeros(x.shape)
    picked = _picked(x.ravel(), r)
    if picked.any():
        mask.flat[int(np.argmax(picked))] = 1.0
    return mask


def extremum_mask_axis(x, r_keep, axis):
    """1.0 at the first position along `axis` where x equals r (given with keepdims; the
    first NaN where r is NaN)."""
    picked = _picked(x, r_keep)
    first = np.argmax(picked, axis=axis)
    mask = np.zeros(x.shape)
    np.put_along_axis(mask, np.expand_dims(first, axis), 1.0, axis=axis)
    return mask * picked.any(axis=axis, keepdims=True)


def prod_others(x, axis):
    """For each element, the product of the other elements along `axis` (all of them when
    axis is None): the derivative of a product, exact where elements are zero."""
    if np.size(x) == 0:   # nothing to differentiate (the cumulative products below need an element)
        return np.zeros(np.shape(x))
    if axis is None:
        flat = np.ravel(x)
        left = np.concatenate(([1.0], np.cumprod(flat[:-1])))
        right = np.concatenate((np.cumprod(flat[::-1][:-1])[::-1], [1.0]))
        return (left * right).reshape(np.shape(x))
    moved = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    ones = np.ones(moved.shape[:-1] + (1,))
    left = np.concatenate((ones, np.cumprod(moved[..., :-1], axis=-1)), axis=-1)
    right = np.concatenate((np.cumprod(moved[..., ::-1][..., :-1], axis=-1)[..., ::-1], ones), axis=-1)
    return np.moveaxis(left * right, -1, axis)


TAPE_RESERVE_CAP = 1 << 22   # numbers an arena reserves ahead for the records still to come


def tape_grow(arena, used: int, record: int, rest: int):
    """A loop tape's float64 arena with room for a `record` of numbers after its first `used`
    (which it keeps), and for `rest` (the records the loops can still write, when their sizes
    do not change; up to `TAPE_RESERVE_CAP`, as a loop left early writes fewer): at least twice
    the old size, so growth costs amortised O(1) per number."""
    out = np.empty(max(used + max(record, min(rest, TAPE_RESERVE_CAP)), 2 * arena.shape[0]))
    out[:used] = arena[:used]
    return out


def tape_put(arena, pos: int, x) -> int:
    """Copy array x's numbers (C order) into the arena from `pos`; -> the position after them."""
    n = x.size
    arena[pos:pos + n] = np.reshape(x, -1)
    return pos + n


def tape_view(arena, end: int, shape):
    """The array of `shape` whose numbers end at `end` in the arena (`tape_put`'s copy): a view."""
    n = 1
    for s in shape:
        n *= s
    return arena[end - n:end].reshape(shape)


def trip_count(start: int, stop: int, step: int) -> int:
    """len(range(start, stop, step))."""
    if step > 0:
        return max(0, (stop - start + step - 1) // step)
    return max(0, (start - stop - step - 1) // (-step))


def maximum(a, b):
    """np.maximum(a, b). Generated code calls it through `rt` because Numba's np.maximum and
    np.minimum return the *first* operand at a tie where NumPy returns the second: they differ
    on signed zeros (np.maximum(-0.0, 0.0) is 0.0 in NumPy, -0.0 in Numba), so `1 / max(x, 0)`
    would be -inf on one target and inf on the other. NaN wins on both."""
    return np.maximum(a, b)


# the class a run-time refusal raises (`raise rt.Refusal(message, file, line, col, hint)`):
# coarsen sets it to its `coarsen.errors.UnsupportedAtRunTime` (kernels knows nothing of
# coarsen); named through `rt`, it is no object held by the generated module, which so stays
# in the disk caches
Refusal: type = RuntimeError
# NumPy's LinAlgError, named through `rt` for the same reason (SciPy raises it too)
LinAlgError: type = _numpy.linalg.LinAlgError


def floordiv(a, b):
    """a // b of int64 values (arrays, NumPy or Python ints). Generated code calls it through
    `rt` because NumPy wraps int64 min // -1 to int64 min where Numba's integer division gives 0
    (`kernels.numba_runtime`); a Python int's quotient beyond int64 is refused before.
    Scalars compute as NumPy's int64 (0 for a zero divisor, with NumPy's RuntimeWarning):
    a Python int's zero divisor is refused before, so only a NumPy scalar's reaches here."""
    if np.ndim(a) or np.ndim(b):
        return a // b
    return np.int64(a) // np.int64(b)


def mod(a, b):
    """a % b of int64 values, as `floordiv`: NumPy's 0 for a zero divisor of a NumPy scalar."""
    if np.ndim(a) or np.ndim(b):
        return a % b
    return np.int64(a) % np.int64(b)


def minimum(a, b):
    """np.minimum(a, b); see `maximum`."""
    return np.minimum(a, b)


def argsort_quicksort(x):
    """np.argsort(x) (kind "quicksort", NumPy's default). NumPy's quicksort is not stable: the
    order it gives tied keys is its implementation's (an introsort or x86-simd-sort, by CPU),
    which Numba's quicksort does not reproduce. Machine code sorts with Numba and, only where
    the sorted keys hold a tie (equal keys, NaNs, -0.0 and 0.0), takes NumPy's own order
    (`kernels.numba_runtime`), so both targets and both tiers agree with NumPy."""
    return np.argsort(x, kind="quicksort")


def argsort_heapsort(x):
    """np.argsort(x, kind="heapsort"); ties as `argsort_quicksort`."""
    return np.argsort(x, kind="heapsort")


def as_float_array(x):
    return np.asarray(x, dtype=np.float64)


def checked_int(x):
    """int(x) of a float, as an int64: NaN is a ValueError and infinity or a value beyond int64
    an OverflowError on every target (Numba's int() would return garbage for them)."""
    if x != x:
        raise ValueError("cannot convert float NaN to integer")
    if not -9.223372036854775808e18 <= x < 9.223372036854775808e18:
        raise OverflowError(f"cannot convert float {float(x)} to an int64 integer")
    return int(x)


def vexp(x):
    """`np.exp` (the "cpu" target's source calls it for `np.exp`: `kernels.vecmath`; machine
    code runs `kernels.numba_vecmath`'s vectorisable loop)."""
    return np.exp(x)


def vlog(x):
    """`np.log` (the "cpu" target's source calls it for top-level `np.log`: `kernels.vecmath`;
    machine code runs `kernels.numba_vecmath`'s vectorisable loop)."""
    return np.log(x)


def int_power(a, e):
    """`a ** e` of int64 values (e >= 0, checked by the caller): NumPy's int64 power, exact and
    wrapping on overflow (repeated squaring), scalars or arrays of one shape (the caller
    broadcasts). Machine code: `kernels.numba_special`."""
    with np.errstate(over="ignore"):
        out = np.power(np.asarray(a, dtype=np.int64), np.asarray(e, dtype=np.int64))
    return out if out.ndim else np.int64(out)


def ipow(x, e):
    """`np.power(x, e)` of one element inside a loop `kernels.fusion` made (machine code:
    repeated multiplication when e is a whole number 0..1024, `kernels.numba_vecmath`)."""
    return np.power(x, e)


# Special functions and scans (implemented in `kernels.special` / `kernels.scans`): defined here
# so that `rt.<name>` is a function of this module, which the cuda target re-binds and
# `kernels.numba_special` gives Numba implementations.
def erf(x):
    return special.erf(x)


def erfc(x):
    return special.erfc(x)


def lgamma(x):
    return special.lgamma(x)


def gamma(x):
    return special.gamma(x)


def digamma(x):
    return special.digamma(x)


def trigamma(x):
    return special.trigamma(x)


def cumsum(x, axis):
    return scans.cumsum(x, axis)


def cumprod(x, axis):
    return scans.cumprod(x, axis)


def rcumsum(x, axis):
    return scans.rcumsum(x, axis)


def cumprod_grad(x, d, axis):
    return scans.cumprod_grad(x, d, axis)


def cumprod_jvp(x, t, axis):
    return scans.cumprod_jvp(x, t, axis)


def cumprod_jvp_grad(x, t, g, axis):
    return scans.cumprod_jvp_grad(x, t, g, axis)


def cumprod_jvp2(x, t, u, axis):
    return scans.cumprod_jvp2(x, t, u, axis)


# ------------------------------------------------------------------ gathers (index arrays)
def out_of_range(i, n) -> bool:
    """Whether the index array `i` holds an index outside [-n, n) (an axis of length n)."""
    return bool(i.size) and bool((i.min() < -n) | (i.max() >= n))


def take(x, i0):
    """x[i0]: rows of x at the int64 indices i0 (negative ones count from the end)."""
    return x[i0]


def take2(x, i0, i1):
    """x[i0, i1]: elements (or sub-arrays) at index pairs, the two arrays broadcast together."""
    return x[i0, i1]


def take3(x, i0, i1, i2):
    return x[i0, i1, i2]


def take_add(d, g, i0):
    """d[i0] += g, accumulating repeated indices (np.add.at): the adjoint of `take`."""
    np.add.at(d, i0, g)


def take_add2(d, g, i0, i1):
    np.add.at(d, (i0, i1), g)


def take_add3(d, g, i0, i1, i2):
    np.add.at(d, (i0, i1, i2), g)


# writes through index arrays (x[idx] = v, np.add.at) and put's adjoint: `kernels.scatter`
from kernels.scatter import (add_at, add_at2, add_at3, put, put2, put3,  # noqa: E402,F401
                             put_grad, put_grad2, put_grad3)
