"""Linear algebra: np.linalg's det, slogdet, inv, solve, cholesky, eigh/eigvalsh, lstsq/pinv, qr,
norm, and dot/vdot/inner/outer/einsum/cross/kron.

Primitives (matrices of rank 2; Numba compiles np.linalg on the cpu target through LAPACK):
- `det`: VJP d * det(A) * inv(A)^T;
- `logabsdet` (slogdet's second result): VJP d * inv(A)^T;
- `inv`: VJP -inv(A)^T d inv(A)^T;
- `solve` (A x = b, b a vector or a matrix): VJP g = solve(A^T, d), d_b = g, d_A = -g x^T;
- `cholesky`: VJP (Murray 2016) S = L^-T Phi(L^T d) L^-1, (S + S^T) / 2 summed into the lower
  triangle NumPy reads (`rt.fold_triangle`), Phi taking the lower triangle with the diagonal
  halved; JVP of the tangent mirrored from that triangle;
- `eigh_w`, `eigh_v` (np.linalg.eigh's w and v, NumPy's own numbers on every target, of the
  symmetric matrix S of the triangle UPLO names): VJPs V diag(dw) V^T and V F V^T (Giles
  2008), JVPs diag(M) and V (F o M) with M = V^T dS V, summed into / read from that triangle;
  refused when running where repeated eigenvalues make them undefined (or not determined by
  the adjoint at the point: an eigenvector adjoint that couples two equal eigenvalues' vectors);
- `lstsq` (np.linalg.lstsq's x, NumPy's own; np.linalg.pinv is lstsq(A, I)): VJP z = (A^T A)^-1 dx,
  d b = A z, d A = r z^T - A z x^T (r = b - A x), JVP (A^T A)^-1 (dA^T r - A^T dA x + A^T db), for
  A of full column rank (`lstsq_rank`, NumPy's), else refused when running (the derivative in
  b alone, A+ db, is taken for any A);
- `qr_q`, `qr_r` (np.linalg.qr's reduced Q and R, NumPy's own): VJP (gQ + Q N) R^-T with
  N = triu(P) + triu(P, 1)^T, P = gR R^T - Q^T gQ; JVP dQ = Q (O - C) + X, dR = (C - O) R with
  X = dA R^-1, C = Q^T X, O = tril(C, -1) - its transpose; for m >= n and R invertible, else
  refused when running.
The rest lower to matmul, reductions, indexing and elementwise ops (einsum to transposes,
broadcast products and sums, or to one matmul where it is one).
"""
from __future__ import annotations

from coarsen.ir.types import Type
from coarsen.ops import lowering as L
from coarsen.ops.spec import Composite, O, Structural


def _err(message):
    from coarsen.ir.typing import TypeRuleError

    return TypeRuleError(message)


def _square(types, attrs, result_rank: int):
    a = types[0]
    if a.rank != 2:
        raise _err(f"a matrix (rank 2) is needed here, got rank {a.rank}")
    return Type("f64", result_rank)


def _np(path: str):
    def evaluate(instr, *args):
        import numpy as np

        fn = np.linalg
        for part in path.split("."):
            fn = getattr(fn, part)
        return fn(*[np.asarray(a, dtype=np.float64) for a in args])
    return evaluate


def _mm(a: str, b: str) -> str:
    return f"rt.matmul({a}, {b})"


def _det_vjp(rev, instr, code, declared):
    """d det(A) / dA is A's cofactor matrix, det(A) inv(A).T where A is invertible, but defined
    (and what plain NumPy's det is differentiable to) at a singular A too, where inv raised
    LinAlgError: so it is formed from the SVD A = U S V^T as det(U) det(V^T) U diag(p) V^T,
    p_i the product of the singular values but s_i (prefix times suffix products, no division)."""
    a = instr.args[0]
    u, sv, vt, p = (rev.prog.names.reserve(n) for n in ("_det_u", "_det_s", "_det_vt", "_det_p"))
    code.line(f"{u}, {sv}, {vt} = np.linalg.svd({rev.ref(a)})")
    code.line(f"{p} = np.cumprod(np.concatenate((np.ones(1), {sv}[:-1]))) * "
              f"np.cumprod(np.concatenate((np.ones(1), {sv}[::-1][:-1])))[::-1]")
    cofactor = f"np.linalg.det({u}) * np.linalg.det({vt}) * {_mm(f'({u} * {p})', vt)}"
    rev.accum(a, f"{rev.d(instr.result)} * ({cofactor})", code, declared)


def _logabsdet_vjp(rev, instr, code, declared):
    a = instr.args[0]
    rev.accum(a, f"{rev.d(instr.result)} * np.linalg.inv({rev.ref(a)}).T", code, declared)


def _inv_vjp(rev, instr, code, declared):
    r = rev.ref(instr.result)
    rev.accum(instr.args[0], f"-{_mm(_mm(f'{r}.T', rev.d(instr.result)), f'{r}.T')}", code, declared)


def _inv_jvp(fwd, instr, args, result, tangents):
    """d inv(A) = -inv(A) dA inv(A)."""
    inner = fwd.emit(O.MATMUL, (fwd.emit(O.MATMUL, (result, tangents[0])), result))
    return fwd.emit(O.NEG, (inner,))


def _trace_inv_times(fwd, a, t):
    """trace(inv(A) dA) = sum(inv(A)^T * dA)."""
    inv_t = fwd.emit(O.TRANSPOSE, (fwd.emit(O.INV, (a,)),))
    return fwd.emit(O.SUM, (fwd.emit(O.MUL, (inv_t, t)),), {"axis": None, "keepdims": False})


def _det_jvp(fwd, instr, args, result, tangents):
    """d det(A) = det(A) trace(inv(A) dA)."""
    return fwd.emit(O.MUL, (result, _trace_inv_times(fwd, args[0], tangents[0])))


def _logabsdet_jvp(fwd, instr, args, result, tangents):
    return _trace_inv_times(fwd, args[0], tangents[0])


def _solve_jvp(fwd, instr, args, result, tangents):
    """x = A^-1 b: dx = A^-1 (db - dA x)."""
    (a, b), (ta, tb) = args, tangents
    rhs = tb if tb is not None else fwd.zeros_like(b)
    if ta is not None:
        rhs = fwd.emit(O.SUB, (rhs, fwd.emit(O.MATMUL, (ta, result))))
    return fwd.emit(O.SOLVE, (a, rhs))


def _solve_type(types, attrs):
    a, b = types
    if a.rank != 2 or b.rank not in (1, 2):
        raise _err("solve(A, b) takes a matrix A and a vector or matrix b")
    return Type("f64", b.rank)


def _solve_vjp(rev, instr, code, declared):
    (a, b), x = instr.args, instr.result
    g = rev.prog.names.reserve("_solve_g")
    code.line(f"{g} = np.linalg.solve(np.ascontiguousarray({rev.ref(a)}.T), {rev.d(x)})")
    rev.accum(b, g, code, declared)
    outer = f"rt.outer({g}, {rev.ref(x)})" if x.type.rank == 1 else _mm(g, f"{rev.ref(x)}.T")
    rev.accum(a, f"-{outer}", code, declared)


def _cholesky_vjp(rev, instr, code, declared):
    low, d = rev.ref(instr.result), rev.d(instr.result)
    p = rev.prog.names.reserve("_chol_p")
    li = rev.prog.names.reserve("_chol_li")
    s = rev.prog.names.reserve("_chol_s")
    code.line(f"{p} = np.tril({_mm(f'{low}.T', d)})")
    code.line(f"{p} = {p} - 0.5 * np.diag(np.diag({p}))")
    code.line(f"{li} = np.linalg.inv({low})")
    code.line(f"{s} = {_mm(_mm(f'{li}.T', p), li)}")
    # NumPy reads A's lower triangle only: the symmetric adjoint (S + S^T) / 2 summed into it
    rev.accum(instr.args[0], f"rt.fold_triangle(0.5 * ({s} + {s}.T), True)", code, declared)


def _cholesky_jvp(fwd, instr, args, result, tangents):
    """dL = L Phi(L^-1 dS L^-T), Phi the lower triangle with the diagonal halved, dS the tangent
    of the lower triangle NumPy reads, mirrored (an upper-triangle tangent changes nothing)."""
    low = result
    inv = fwd.emit(O.INV, (low,))
    ds = _symmetric_tangent(fwd, args[0], tangents[0], True)
    m = fwd.emit(O.MATMUL, (fwd.emit(O.MATMUL, (inv, ds)), fwd.emit(O.TRANSPOSE, (inv,))))
    ramp = fwd.emit(O.IOTA, (fwd.emit(O.SHAPE, (low,), {"dim": 0}),))
    rows = fwd.emit(O.GETITEM, (ramp,), {"index": ("s000", "n")})
    cols = fwd.emit(O.GETITEM, (ramp,), {"index": ("n", "s000")})
    zero = fwd.const(0.0)
    strict = fwd.emit(O.WHERE, (fwd.emit(O.LT, (cols, rows)), m, zero))
    diagonal = fwd.emit(O.WHERE, (fwd.emit(O.EQ, (cols, rows)), m, zero))
    phi = fwd.emit(O.ADD, (strict, fwd.emit(O.MUL, (fwd.const(0.5), diagonal))))
    return fwd.emit(O.MATMUL, (low, phi))


# ------------------------------------------------------------------ eigh
_EIGH_HINT = ("the derivative through eigenvectors (or single eigenvalues) is undefined where two "
              "eigenvalues are equal; symmetric functions of the eigenvalues (np.sum(w ** 2), np.sum(w)) "
              "are differentiated there, or perturb the matrix so that its eigenvalues are distinct")


def _refuse_line(instr, message: str, hint: str) -> str:
    loc = instr.loc
    return f"    raise rt.Refusal({message!r}, {loc.filename!r}, {loc.lineno}, {loc.col}, {hint!r})"


def _eigh_helper(instr, which: str) -> str:
    """eigvalsh's eigenvalues come from LAPACK's values-only driver: they may differ from eigh's
    w in the last digits, so an `eigh_w` made by eigvalsh (attrs: alone) calls NumPy's eigvalsh."""
    return "eigvalsh" if which == "w" and instr.attrs.get("alone") else f"eigh_{which}"


def _eigh_emit(which: str):
    return lambda instr, a: f"rt.{_eigh_helper(instr, which)}({a[0]}, {instr.attrs['lower']})"


def _eigh_eval(which: str):
    def evaluate(instr, a):
        from kernels import runtime as rt

        return getattr(rt, _eigh_helper(instr, which))(a, instr.attrs["lower"])
    return evaluate


def _factor_vjp(rev, instr, code, declared, prefix: str, other: str, lower: str, gradient,
                refusal: str, into=lambda g: g) -> None:
    """The reverse rule of one result of a factorisation whose results are ops of their own
    (eigh's w and v, qr's q and r): recompute the `other` result (`rt.<prefix>_<other>`),
    `g, bad = <gradient(this result, the other, its adjoint)>`, raise `refusal` (a line) when
    running where `bad`, and add `into(g)` to the argument's adjoint."""
    a = instr.args[0]
    o = rev.prog.names.reserve(f"_{prefix}_{other}")
    g, bad = rev.prog.names.reserve(f"_{prefix}_g"), rev.prog.names.reserve(f"_{prefix}_bad")
    code.line(f"{o} = rt.{prefix}_{other}({rev.ref(a)}{lower})")
    code.line(f"{g}, {bad} = {gradient(rev.ref(instr.result), o, rev.d(instr.result))}")
    code.line(f"if {bad}:")
    code.line(refusal)
    rev.accum(a, into(g), code, declared)


def _eigh_vjp(which: str):
    """w: d S = V diag(dw) V^T; V: d S = V F V^T (`rt.eigh_vectors_grad`); then summed into
    the triangle NumPy read (`rt.fold_triangle`). Undefined adjoints at repeated eigenvalues
    are refused when running, at the user's call."""
    what = "eigenvalues" if which == "w" else "eigenvectors"
    gradient = ((lambda w, v, d: f"rt.eigh_values_grad({w}, {v}, {d})") if which == "w"
                else (lambda v, w, d: f"rt.eigh_vectors_grad({w}, {v}, {d})"))

    def rule(rev, instr, code, declared):
        lower = instr.attrs["lower"]
        refusal = _refuse_line(instr, f"np.linalg.eigh: the derivative of the {what} is undefined here: "
                                      "the matrix has repeated eigenvalues", _EIGH_HINT)
        _factor_vjp(rev, instr, code, declared, "eigh", "v" if which == "w" else "w", f", {lower}", gradient,
                    refusal, lambda g: f"rt.fold_triangle({g}, {lower})")
    return rule


def _outer_index(fwd, v, axis: int):
    """v[:, None] (axis 1) or v[None, :] (axis 0)."""
    return fwd.emit(O.GETITEM, (v,), {"index": ("s000", "n") if axis == 1 else ("n", "s000")})


def _ramp_masks(fwd, a):
    """i[:, None] and j[None, :] over a's rows and columns."""
    rows = fwd.emit(O.IOTA, (fwd.emit(O.SHAPE, (a,), {"dim": 0}),))
    cols = fwd.emit(O.IOTA, (fwd.emit(O.SHAPE, (a,), {"dim": 1}),))
    return _outer_index(fwd, rows, 1), _outer_index(fwd, cols, 0)


def _symmetric_tangent(fwd, a, t, lower: bool):
    """The tangent of S, the symmetric matrix of A's lower (upper) triangle: dA there, mirrored."""
    rows, cols = _ramp_masks(fwd, a)
    keep = fwd.emit(O.LE if lower else O.GE, (cols, rows))
    return fwd.emit(O.WHERE, (keep, t, fwd.emit(O.TRANSPOSE, (t,))))


def _refuse_check(fwd, bad, message: str, hint: str) -> None:
    from coarsen.errors import UnsupportedAtRunTime

    loc = fwd.loc
    fwd.emit(O.CHECK, (bad,), {"exc": UnsupportedAtRunTime,
                                "args": (message, loc.filename, loc.lineno, loc.col, hint)})


def _max_abs(fwd, x):
    return fwd.emit(O.MAX, (fwd.emit(O.ABS, (x,)),), {"axis": None, "keepdims": False})


def _eigh_jvp(which: str):
    """M = V^T dS V: dw = diag(M); dV = V (F o M), F_ij = 1 / (w_j - w_i) off the diagonal.
    At repeated eigenvalues w_i = w_j the eigenvalues' tangent is defined only where M's block
    is a multiple of the identity (M_ij = 0, M_ii = M_jj), the eigenvectors' not at all (LAPACK's
    basis of the eigenspace is arbitrary; the perturbed matrix's basis, fixed by the direction,
    differs from it): refused when running, unless the tangent is zero."""
    def rule(fwd, instr, args, result, tangents):
        from kernels import runtime as rt

        a, lower = args[0], instr.attrs["lower"]
        w = result if which == "w" else fwd.emit(O.EIGH_W, (a,), {"lower": lower})
        v = result if which == "v" else fwd.emit(O.EIGH_V, (a,), {"lower": lower})
        ds = _symmetric_tangent(fwd, a, tangents[0], lower)
        m = fwd.emit(O.MATMUL, (fwd.emit(O.MATMUL, (fwd.emit(O.TRANSPOSE, (v,)), ds)), v))
        rows, cols = _ramp_masks(fwd, a)
        off = fwd.emit(O.NE, (rows, cols))
        gap = fwd.emit(O.SUB, (_outer_index(fwd, w, 0), _outer_index(fwd, w, 1)))
        scale = fwd.emit(O.MUL, (fwd.const(rt._EIGH_CLOSE), _max_abs(fwd, w)))
        close = fwd.emit(O.AND, (off, fwd.emit(O.LE, (fwd.emit(O.ABS, (gap,)), scale))))
        small = fwd.emit(O.MUL, (fwd.const(rt._EIGH_SMALL), _max_abs(fwd, m)))
        offending = fwd.emit(O.GT, (fwd.emit(O.ABS, (m,)), small))
        if which == "v":
            offending = fwd.emit(O.GT, (_max_abs(fwd, m), fwd.const(0.0)))
        diag = fwd.emit(O.SUM, (fwd.emit(O.WHERE, (off, fwd.const(0.0), m)),), {"axis": 0, "keepdims": False})
        if which == "w":
            spread = fwd.emit(O.ABS, (fwd.emit(O.SUB, (_outer_index(fwd, diag, 0), _outer_index(fwd, diag, 1))),))
            offending = fwd.emit(O.OR, (offending, fwd.emit(O.GT, (spread, small))))
        hits = fwd.emit(O.WHERE, (fwd.emit(O.AND, (close, offending)), fwd.const(1.0), fwd.const(0.0)))
        bad = fwd.emit(O.GT, (fwd.emit(O.SUM, (hits,), {"axis": None, "keepdims": False}), fwd.const(0.0)))
        what = "eigenvalues" if which == "w" else "eigenvectors"
        _refuse_check(fwd, bad, f"np.linalg.eigh: the forward-mode derivative of the {what} is undefined "
                                "here: the matrix has repeated eigenvalues", _EIGH_HINT)
        if which == "w":
            return diag
        keep = fwd.emit(O.AND, (off, fwd.emit(O.NOT, (close,))))
        safe_gap = fwd.emit(O.WHERE, (keep, gap, fwd.const(1.0)))
        f = fwd.emit(O.WHERE, (keep, fwd.emit(O.DIV, (m, safe_gap)), fwd.const(0.0)))
        return fwd.emit(O.MATMUL, (v, f))
    return rule


# ------------------------------------------------------------------ lstsq
def _rcond_source(instr) -> str:
    rcond = instr.attrs["rcond"]
    return "np.nan" if rcond is None else repr(float(rcond))


def _rcond_value(instr) -> float:
    rcond = instr.attrs["rcond"]
    return float("nan") if rcond is None else float(rcond)


def _lstsq_type(types, attrs):
    a, b = types
    if a.rank != 2 or b.rank not in (1, 2):
        raise _err("lstsq(A, b) takes a matrix A and a vector or matrix b")
    return Type("f64", b.rank)


def _lstsq_rank_type(types, attrs):
    if types[0].rank != 2:
        raise _err("lstsq's rank is of a matrix")
    return Type("i64", 0)


_LSTSQ_HINT = ("the least-squares solution of a rank-deficient A (or one with fewer rows than columns) "
               "jumps as A changes: its derivative is not defined; drop dependent columns, or add a ridge "
               "term (np.linalg.solve(A.T @ A + lam * np.eye(n), A.T @ b))")
_LSTSQ_RANK = "np.linalg.lstsq: the derivative is defined for A of full column rank only; this A is rank-deficient"


def _lstsq_vjp(rev, instr, code, declared):
    """x = A+ b, A of full column rank: z = (A^T A)^-1 dx (from A = QR: R^-1 R^-T dx), d b = A z,
    d A = (b - A x) z^T - A z x^T. A rank-deficient A is refused when running, unless only b is
    differentiated (then d b = (A+)^T dx, NumPy's minimum-norm lstsq of A^T)."""
    (a, b), x = instr.args, instr.result
    A, X, D = rev.ref(a), rev.ref(x), rev.d(x)
    if a.id not in rev.active:   # x = A+ b is linear in b for any A: d b = (A+)^T dx = lstsq(A^T, dx)
        rev.accum(b, f"rt.lstsq(np.ascontiguousarray({A}.T), {D}, {_rcond_source(instr)})", code, declared)
        return
    r, z, az, res = (rev.prog.names.reserve(n) for n in ("_lstsq_r", "_lstsq_z", "_lstsq_az", "_lstsq_res"))
    code.line(f"if rt.lstsq_rank({A}, {_rcond_source(instr)}) < {A}.shape[1]:")
    code.line(_refuse_line(instr, _LSTSQ_RANK, _LSTSQ_HINT))
    code.line(f"{r} = np.linalg.qr(np.ascontiguousarray({A}))[1]")
    code.line(f"{z} = np.linalg.solve({r}, np.linalg.solve(np.ascontiguousarray({r}.T), "
              f"np.ascontiguousarray({D})))")
    code.line(f"{az} = {_mm(A, z)}")
    rev.accum(b, az, code, declared)
    if a.id in rev.active:
        code.line(f"{res} = {rev.ref(b)} - {_mm(A, X)}")
        if x.type.rank == 1:
            rev.accum(a, f"rt.outer({res}, {z}) - rt.outer({az}, {X})", code, declared)
        else:
            rev.accum(a, f"{_mm(res, f'{z}.T')} - {_mm(az, f'{X}.T')}", code, declared)


def _lstsq_jvp(fwd, instr, args, result, tangents):
    """dx = (A^T A)^-1 (dA^T (b - A x) - A^T dA x + A^T db), A of full column rank (else
    refused when running)."""
    (a, b), (ta, tb) = args, tangents
    if ta is None:   # linear in b for any A (rank-deficient too): dx = A+ db
        return fwd.emit(O.LSTSQ, (a, fwd.fit(tb, b)), {"rcond": instr.attrs["rcond"]})
    rank = fwd.emit(O.LSTSQ_RANK, (a,), {"rcond": instr.attrs["rcond"]})
    cols = fwd.emit(O.SHAPE, (a,), {"dim": 1})
    _refuse_check(fwd, fwd.emit(O.LT, (rank, cols)), _LSTSQ_RANK, _LSTSQ_HINT)
    at = fwd.emit(O.TRANSPOSE, (a,))
    parts = []
    if ta is not None:
        res = fwd.emit(O.SUB, (b, fwd.emit(O.MATMUL, (a, result))))
        parts.append(fwd.emit(O.MATMUL, (fwd.emit(O.TRANSPOSE, (ta,)), res)))
        parts.append(fwd.emit(O.NEG, (fwd.emit(O.MATMUL, (at, fwd.emit(O.MATMUL, (ta, result)))),)))
    if tb is not None:
        parts.append(fwd.emit(O.MATMUL, (at, tb)))
    rhs = parts[0]
    for p in parts[1:]:
        rhs = fwd.emit(O.ADD, (rhs, p))
    return fwd.emit(O.SOLVE, (fwd.emit(O.MATMUL, (at, a)), rhs))


# ------------------------------------------------------------------ qr
_QR_HINT = ("the derivative of A = QR is taken for A with at least as many rows as columns and full column "
            "rank (R invertible); for a wide A differentiate np.linalg.qr(A.T)")
_QR_UNDEFINED = ("np.linalg.qr: the derivative is defined for A of full column rank with at least as many rows "
                 "as columns only")


def _qr_type(which: str):
    def rule(types, attrs):
        if types[0].rank != 2:
            raise _err(f"qr of a matrix (rank 2), got rank {types[0].rank}")
        return Type("f64", 2)
    return rule


def _qr_vjp(which: str):
    """d A = (gQ + Q N) R^-T, N = triu(P) + triu(P, 1)^T, P = gR R^T - Q^T gQ (`rt.qr_grad`); the
    other factor's adjoint is zero here (each factor is its own op)."""
    zeros = "np.zeros(({r}.shape[0], {r}.shape[1]))"
    gradient = ((lambda q, r, d: f"rt.qr_grad({q}, {r}, {d}, {zeros.format(r=r)})") if which == "q"
                else (lambda r, q, d: f"rt.qr_grad({q}, {r}, {zeros.format(r=q)}, {d})"))

    def rule(rev, instr, code, declared):
        _factor_vjp(rev, instr, code, declared, "qr", "r" if which == "q" else "q", "", gradient,
                    _refuse_line(instr, _QR_UNDEFINED, _QR_HINT))
    return rule


def _qr_jvp(which: str):
    """X = dA R^-1, C = Q^T X, O = tril(C, -1) - tril(C, -1)^T: dQ = Q (O - C) + X, dR = (C - O) R
    (m >= n, R invertible; else refused when running)."""
    def rule(fwd, instr, args, result, tangents):
        a, t = args[0], tangents[0]
        q = result if which == "q" else fwd.emit(O.QR_Q, (a,))
        r = result if which == "r" else fwd.emit(O.QR_R, (a,))
        m, n = (fwd.emit(O.SHAPE, (a,), {"dim": k}) for k in (0, 1))
        rows, cols = _ramp_masks(fwd, r)
        eye = fwd.emit(O.EQ, (rows, cols))
        diag = fwd.emit(O.ABS, (fwd.emit(O.SUM, (fwd.emit(O.WHERE, (eye, r, fwd.const(0.0))),),
                                         {"axis": 0, "keepdims": False}),))
        top = fwd.emit(O.MAX, (diag,), {"axis": None, "keepdims": False})
        low = fwd.emit(O.MIN, (diag,), {"axis": None, "keepdims": False})
        size = fwd.emit(O.CAST, (fwd.emit(O.MAXIMUM, (m, n)),), {"dtype": "f64"})
        tol = fwd.emit(O.MUL, (fwd.emit(O.MUL, (size, fwd.const(2.220446049250313e-16))), top))
        bad = fwd.emit(O.OR, (fwd.emit(O.LT, (m, n)), fwd.emit(O.LE, (low, tol))))
        _refuse_check(fwd, bad, _QR_UNDEFINED, _QR_HINT)
        x = fwd.emit(O.TRANSPOSE, (fwd.emit(O.SOLVE, (fwd.emit(O.TRANSPOSE, (r,)), fwd.emit(O.TRANSPOSE, (t,)))),))
        c = fwd.emit(O.MATMUL, (fwd.emit(O.TRANSPOSE, (q,)), x))
        crows, ccols = _ramp_masks(fwd, c)
        strict = fwd.emit(O.WHERE, (fwd.emit(O.GT, (crows, ccols)), c, fwd.const(0.0)))
        omega = fwd.emit(O.SUB, (strict, fwd.emit(O.TRANSPOSE, (strict,))))
        if which == "q":
            return fwd.emit(O.ADD, (fwd.emit(O.MATMUL, (q, fwd.emit(O.SUB, (omega, c)))), x))
        return fwd.emit(O.MATMUL, (fwd.emit(O.SUB, (c, omega)), r))
    return rule


def _emit(path: str):
    return lambda instr, a: f"np.linalg.{path}({', '.join(a)})"


# ------------------------------------------------------------------ lowerings
def _matrix(lw, x, node, name):
    x = L.array(lw, x, node, name)
    if x.type.rank != 2:
        lw.unsupported(f"{name}() of a rank-{x.type.rank} array is not supported", node,
                       "pass one square matrix (batches: loop over them)")
    return x


def _unary_matrix(op: str, name: str):
    def lower(lw, args, kwargs, node):
        L.arity(lw, args, kwargs, node, 1, name)
        return lw.emit(getattr(O, op), (_matrix(lw, args[0], node, name),), node)
    return lower


def _result(name: str, *values) -> tuple:
    """NumPy's named result (`w, v = np.linalg.eigh(a)` and `np.linalg.eigh(a).eigenvalues`
    alike; returned as NumPy returns it), a plain tuple where this NumPy has none."""
    from numpy.linalg import _linalg

    cls = getattr(_linalg, name, None)
    return cls(*values) if cls is not None else tuple(values)


def _slogdet(lw, args, kwargs, node):
    L.arity(lw, args, kwargs, node, 1, "slogdet")
    a = _matrix(lw, args[0], node, "slogdet")
    sign = lw.emit(O.SIGN, (lw.emit(O.DET, (a,), node),), node)
    return _result("SlogdetResult", sign, lw.emit(O.LOGABSDET, (a,), node))


def _uplo(lw, binding, node, name: str) -> bool:
    """NumPy's UPLO ('L' default, 'U'; either case): whether the lower triangle is read."""
    uplo = L.static(lw, binding, node, "UPLO")
    uplo = "L" if uplo is None else uplo
    if not isinstance(uplo, str) or uplo.upper() not in ("L", "U"):
        from coarsen.frontend.exceptions import python_error
        python_error(lw, ValueError("UPLO argument must be 'L' or 'U'"), node, "pass UPLO='L' or 'U'")
    return uplo.upper() == "L"


def _eigh(lw, args, kwargs, node):
    """np.linalg.eigh(a, UPLO='L') -> (w, v): eigenvalues ascending, eigenvectors as columns,
    both NumPy's own numbers (`rt.eigh_w`, `rt.eigh_v`) of the triangle UPLO names."""
    a, uplo = L.positional(lw, args, kwargs, node, ["a", "UPLO"], "eigh", 1)
    a = _matrix(lw, a, node, "eigh")
    lower = _uplo(lw, uplo, node, "eigh")
    return _result("EighResult", lw.emit(O.EIGH_W, (a,), node, {"lower": lower}),
                   lw.emit(O.EIGH_V, (a,), node, {"lower": lower}))


def _eigvalsh(lw, args, kwargs, node):
    a, uplo = L.positional(lw, args, kwargs, node, ["a", "UPLO"], "eigvalsh", 1)
    a = _matrix(lw, a, node, "eigvalsh")
    return lw.emit(O.EIGH_W, (a,), node, {"lower": _uplo(lw, uplo, node, "eigvalsh"), "alone": True})


class NotComputed:
    """A result coarsen does not compute (lstsq's residuals: their length, 0 or k, depends on the
    data); using it is refused at the user's line."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __repr__(self) -> str:
        return f"<{self.what}: not computed by coarsen>"


def _lstsq(lw, args, kwargs, node):
    """np.linalg.lstsq(a, b, rcond=None) -> (x, residuals, rank, s): x NumPy's own (`rt.lstsq`),
    rank NumPy's (`lstsq_rank`), s the singular values (`svdvals`, to rounding NumPy's); the
    residuals, whose length depends on the rank, are not computed (using them is refused)."""
    from coarsen.frontend.bindings import Static

    a, b, rcond = L.positional(lw, args, kwargs, node, ["a", "b", "rcond"], "lstsq", 2)
    a = _matrix(lw, a, node, "lstsq")
    b = L.array(lw, b, node, "lstsq")
    if b.type.rank > 2:
        lw.unsupported(f"lstsq() of a rank-{b.type.rank} b is not supported", node, "pass a vector or a matrix")
    rc = L.static(lw, rcond, node, "rcond")
    if rc is not None and (isinstance(rc, bool) or not isinstance(rc, (int, float))):
        lw.unsupported(f"lstsq() with rcond={rc!r} is not supported", node, "give a number or None")
    attrs = {"rcond": None if rc is None else float(rc)}
    x = lw.emit(O.LSTSQ, (a, b), node, attrs)
    rank = lw.emit(O.LSTSQ_RANK, (a,), node, attrs)
    return (x, Static(NotComputed("np.linalg.lstsq's residuals")), rank, lw.emit(O.SVDVALS, (a,), node))


def _pinv(lw, args, kwargs, node):
    """np.linalg.pinv(a) (default cutoff, rcond 1e-15) as lstsq(a, I, rcond=1e-15): the minimum
    norm solution is the pseudo-inverse, with the same cutoff on the singular values; its
    derivative is lstsq's (A of full column rank; else refused when running)."""
    from coarsen.ops.constructors import eye

    L.arity(lw, args, kwargs, node, 1, "pinv")
    a = _matrix(lw, args[0], node, "pinv")
    m = lw.emit(O.SHAPE, (a,), node, {"dim": 0})
    ident = eye(lw, m, m, lw.b.const(0), node)
    return lw.emit(O.LSTSQ, (a, ident), node, {"rcond": 1e-15})


def _qr(lw, args, kwargs, node):
    """np.linalg.qr(a, mode='reduced') -> (Q, R), NumPy's own numbers; mode='r' -> R."""
    a, mode = L.positional(lw, args, kwargs, node, ["a", "mode"], "qr", 1)
    a = _matrix(lw, a, node, "qr")
    mode = L.static(lw, mode, node, "mode")
    mode = "reduced" if mode is None else mode
    if mode == "r":
        return lw.emit(O.QR_R, (a,), node)
    if mode != "reduced":
        lw.unsupported(f"qr() with mode={mode!r} is not supported", node,
                       "use mode='reduced' (the default: Q with orthonormal columns, R square) or mode='r'")
    return _result("QRResult", lw.emit(O.QR_Q, (a,), node), lw.emit(O.QR_R, (a,), node))


def _solve(lw, args, kwargs, node):
    L.arity(lw, args, kwargs, node, 2, "solve")
    a = _matrix(lw, args[0], node, "solve")
    b = L.array(lw, args[1], node, "solve")
    return lw.emit(O.SOLVE, (a, b), node)


def _norm(lw, args, kwargs, node):
    """np.linalg.norm(x, ord, axis, keepdims): vector norms (None/2, 1, inf, -inf, 0, any
    other number p: (sum |x|^p)^(1/p)) over one axis or all of a vector; matrix norms
    (None/'fro', 1, -1, inf, -inf; 2, -2 and 'nuc' from the singular values, `svdvals`) of a
    matrix or over an axis pair."""
    from coarsen.ops.shape import ravel

    x, ord_, axis, keep = L.positional(lw, args, kwargs, node, ["x", "ord", "axis", "keepdims"], "norm", 1)
    x = L.array(lw, x, node, "norm", min_rank=0)
    if x.type.rank == 0:
        return lw.emit(O.ABS, (x,), node)
    order = L.static(lw, ord_, node, "ord")
    ax = L.static(lw, axis, node, "axis")
    keep = bool(L.static(lw, keep, node, "keepdims") or False)
    rank = x.type.rank
    if isinstance(ax, tuple) and len(ax) == 1:
        ax = ax[0]
    if isinstance(ax, tuple) or (ax is None and rank == 2 and order is not None):
        if ax is None:
            ax = (0, 1)
        if len(ax) != 2 or any(not isinstance(a, int) or isinstance(a, bool) or not -rank <= a < rank for a in ax):
            lw.type_error(f"norm(): axis={ax!r} is not a pair of axes of an array of rank {rank}", node)
        rows, cols = (a % rank for a in ax)
        if rows == cols:
            lw.type_error(f"norm(): axis={ax!r} names one axis twice", node)
        return _matrix_norm(lw, x, order, rows, cols, keep, node)
    if ax is None and rank > 2 and order is not None:
        lw.type_error("norm(): an ord of an array of rank > 2 needs axis (one axis, or a pair)", node)
    if isinstance(order, str):
        lw.type_error(f"norm(): ord={order!r} is a matrix norm; it needs a matrix or an axis pair", node)
    if ax is not None:
        ax = L.axis_of(lw, ax, rank, node, "norm")
    elif order not in (None, 2) and rank == 1:
        ax = 0
    if ax is None and not keep:
        x, ax = ravel(lw, x, node), 0
    return _vector_norm(lw, x, order, ax, keep, node)


def _vector_norm(lw, x, order, ax, keep, node):
    from coarsen.ops.reductions import reduce

    inf = float("inf")
    if order in (None, 2):
        total = reduce(lw, "SUM", lw.emit(O.MUL, (x, x), node), ax, keep, node)
        return lw.emit(O.SQRT, (total,), node)
    if isinstance(order, bool) or not isinstance(order, (int, float)):
        lw.unsupported(f"norm() with ord={order!r} is not supported", node,
                       "vector norms: None/2, 1, np.inf, -np.inf, 0 or a number p")
    mag = lw.emit(O.ABS, (x,), node)
    if order == 1:
        return reduce(lw, "SUM", mag, ax, keep, node)
    if order == inf:
        return reduce(lw, "MAX", mag, ax, keep, node)
    if order == -inf:
        return reduce(lw, "MIN", mag, ax, keep, node)
    if order == 0:   # how many elements are not zero (piecewise constant: no derivative)
        nonzero = lw.cast_to(lw.emit(O.NE, (x, lw.b.const(0.0)), node), x.type)
        return reduce(lw, "SUM", nonzero, ax, keep, node)
    p = lw.b.const(float(order))
    total = reduce(lw, "SUM", lw.emit(O.POW, (mag, p), node), ax, keep, node)
    return lw.emit(O.POW, (total, lw.b.const(1.0 / float(order))), node)


def _matrix_norm(lw, x, order, rows: int, cols: int, keep: bool, node):
    """A matrix norm over the axis pair (rows, cols); the result drops both (keepdims: keeps
    them with length 1)."""
    from coarsen.ops.reductions import reduce

    inf = float("inf")
    if order in (None, "fro"):
        squares = lw.emit(O.MUL, (x, x), node)
        out = reduce(lw, "SUM", reduce(lw, "SUM", squares, rows, True, node), cols, True, node)
        out = lw.emit(O.SQRT, (out,), node)
    elif order in (1, -1, inf, -inf) and not isinstance(order, bool):
        # 1/-1: max/min over columns of the column sums; inf/-inf: over rows of the row sums
        inner, outer = (rows, cols) if order in (1, -1) else (cols, rows)
        sums = reduce(lw, "SUM", lw.emit(O.ABS, (x,), node), inner, True, node)
        out = reduce(lw, "MAX" if order > 0 else "MIN", sums, outer, True, node)
    elif order in (2, -2, "nuc") and not isinstance(order, bool):
        return _spectral_norm(lw, x, order, keep, node)
    else:
        lw.unsupported(f"the matrix norm ord={order!r} is not supported", node,
                       "matrix norms: None/'fro', 'nuc', 1, -1, 2, -2, np.inf, -np.inf")
    if keep:
        return out
    for a in sorted((rows, cols), reverse=True):   # summing a length-1 axis drops it
        out = reduce(lw, "SUM", out, a, False, node)
    return out


def _spectral_norm(lw, x, order, keep: bool, node):
    """ord 2 / -2: the largest / smallest singular value (sigma[0] / sigma[-1]: descending);
    'nuc': their sum. Singular values are the same for x and x^T, so the axis order does not
    matter. VJP u_i v_i^T per singular value (a subgradient where the largest or smallest one
    repeats: that of the first, as torch)."""
    from coarsen.ops.reductions import reduce
    from coarsen.ops.shape import atleast

    if x.type.rank != 2:
        lw.unsupported(f"norm() with ord={order!r} over two axes of a rank-{x.type.rank} array is not supported",
                       node, "loop over the other axis, taking the norm of each matrix")
    s = lw.emit(O.SVDVALS, (x,), node)
    if order == "nuc":
        out = reduce(lw, "SUM", s, 0, False, node)
    else:
        n = lw.emit(O.SHAPE, (s,), node, {"dim": 0})
        last = lw.emit(O.SUB, (n, lw.b.const(1)), node)
        out = L.index_along(lw, s, 0, lw.b.const(0) if order == 2 else last, node)
    return atleast(lw, out, 2, node) if keep else out


def _vdot(lw, args, kwargs, node):
    from coarsen.ops.shape import ravel

    L.arity(lw, args, kwargs, node, 2, "vdot")
    a, b = (ravel(lw, x, node) for x in L.operands(lw, args, node, "vdot"))
    if a.type.dtype == "i64":   # NumPy's int64 dot: exact, wrapping (a sum of products, any order)
        return lw.emit(O.SUM, (lw.emit(O.MUL, (a, b), node),), node, {"axis": None, "keepdims": False})
    return lw.emit(O.MATMUL, (a, b), node)


def _inner(lw, args, kwargs, node):
    L.arity(lw, args, kwargs, node, 2, "inner")
    a, b = (lw.as_value(x, node) for x in args)
    if a.type.rank == 0 or b.type.rank == 0:
        return lw.emit(O.MUL, (a, b), node)
    if a.type.rank > 2 or b.type.rank > 2:
        lw.unsupported("inner() of arrays of rank > 2 is not supported", node, "use np.einsum")
    if b.type.rank == 2:
        b = lw.emit(O.TRANSPOSE, (b,), node)
    return lw.emit(O.MATMUL, (a, b), node)


def _outer(lw, args, kwargs, node):
    from coarsen.ops.shape import ravel

    L.arity(lw, args, kwargs, node, 2, "outer")
    a, b = (ravel(lw, x, node) for x in L.operands(lw, args, node, "outer"))
    return lw.emit(O.MUL, (L.newaxis(lw, a, 1, node), L.newaxis(lw, b, 0, node)), node)


_CROSS_DIMS = "incompatible dimensions for cross product\n(dimension must be 2 or 3)"


def _cross_lengths(lw, a, b, last: int, node) -> None:
    """Both vectors of length 3: NumPy's ValueError for a length other than 2 or 3; 2-vectors
    (NumPy's deprecated z-component result) are refused where the length is known when
    tracing, else a ValueError when running (never the 3-vector formula read past the end)."""
    from coarsen.frontend.exceptions import python_error

    lengths = [lw.emit(O.SHAPE, (v,), node, {"dim": last}) for v in (a, b)]
    known = [lw.b.constant_of(n) for n in lengths]
    if all(k is not None for k in known):
        if any(k not in (2, 3) for k in known):
            python_error(lw, ValueError(_CROSS_DIMS), node, "pass vectors of length 3")
        elif any(k == 2 for k in known):
            lw.unsupported("cross() of 2-vectors is not supported", node,
                           "append a zero z component: np.cross(np.append(a, 0.0), np.append(b, 0.0))")
        return
    c = lw.b.const
    bad = [lw.emit(O.AND, (lw.emit(O.NE, (n, c(2)), node), lw.emit(O.NE, (n, c(3)), node)), node) for n in lengths]
    two = [lw.emit(O.EQ, (n, c(2)), node) for n in lengths]
    loc = lw.src.loc(node)
    lw.b.emit(O.CHECK, (lw.emit(O.OR, tuple(bad), node),), {"exc": ValueError, "args": (_CROSS_DIMS,)}, loc)
    lw.b.emit(O.CHECK, (lw.emit(O.OR, tuple(two), node),),
              {"exc": ValueError, "args": ("np.cross() of 2-vectors is not supported by coarsen: append a zero "
                                           "z component (np.cross(np.append(a, 0.0), np.append(b, 0.0))[2])",)}, loc)
    lw.ctx.runtime_raises.append(ValueError)


def _cross(lw, args, kwargs, node):
    """a x b along the last axis (length 3) of vectors or stacks of vectors."""
    from coarsen.ops.shape import concat

    L.arity(lw, args, kwargs, node, 2, "cross")
    if all(lw.as_value(x, node).type.dtype == "bool" for x in args):
        lw.type_error("cross() of bool arrays: NumPy's boolean subtract is a TypeError", node,
                      "convert first: np.cross(a.astype(int), b.astype(int))")
    a, b = L.operands(lw, args, node, "cross", min_rank=1)
    if a.type.rank != b.type.rank or a.type.rank > 2:
        lw.unsupported("cross() of arrays of different ranks or rank > 2 is not supported", node)
    last = a.type.rank - 1
    _cross_lengths(lw, a, b, last, node)

    def comp(v, k):   # v[..., k:k+1]: keeps the axis, so the components concatenate back
        return L.take_along(lw, v, last, lw.b.const(k), lw.b.const(k + 1), node)

    parts = []
    for i, j in ((1, 2), (2, 0), (0, 1)):
        parts.append(lw.emit(O.SUB, (lw.emit(O.MUL, (comp(a, i), comp(b, j)), node),
                                     lw.emit(O.MUL, (comp(a, j), comp(b, i)), node)), node))
    if a.type.dtype == "i64":   # int64 (concatenation is a float64 op): each part times a one-hot row
        ramp = lw.emit(O.IOTA, (lw.b.const(3),), node)
        out = None
        for k, part in enumerate(parts):
            hot = lw.cast_to(lw.emit(O.EQ, (ramp, lw.b.const(k)), node), Type("i64", 1))
            term = lw.emit(O.MUL, (part, hot), node)
            out = term if out is None else lw.emit(O.ADD, (out, term), node)
        return out
    return concat(lw, parts, last, node)


def _kron(lw, args, kwargs, node):
    """np.kron of scalars, vectors and matrices (the lower rank gets leading length-1 axes, as
    NumPy). For matrices, out[r, c] = a[r // p, c // q] b[r % p, c % q]: a with each element
    repeated into a p x q block, times b tiled m x n times, each by two int64 gathers."""
    from coarsen.ops.shape import atleast, ravel

    L.arity(lw, args, kwargs, node, 2, "kron")
    a, b = L.operands(lw, args, node, "kron")
    if a.type.rank == 0 or b.type.rank == 0:
        return lw.emit(O.MUL, (a, b), node)
    if a.type.rank > 2 or b.type.rank > 2:
        lw.unsupported("kron() of arrays of rank > 2 is not supported", node, "pass vectors or matrices")
    if a.type.rank == 1 and b.type.rank == 1:
        return ravel(lw, lw.emit(O.MUL, (L.newaxis(lw, a, 1, node), L.newaxis(lw, b, 0, node)), node), node)
    a, b = atleast(lw, a, 2, node), atleast(lw, b, 2, node)
    (m, n), (p, q) = L.shape(lw, a, node), L.shape(lw, b, node)

    def ramp(count, size):   # int64 [0, 1, ..., count * size - 1]
        total = lw.emit(O.MUL, (count, size), node)
        return lw.cast_to(lw.emit(O.IOTA, (total,), node), Type("i64", 1))

    rows, cols = ramp(m, p), ramp(n, q)
    # a[r // p, c // q] * b[r % p, c % q], by two gathers each (`ops.indexing`)
    a_full = lw.gather(lw.gather(a, ("a",), [lw.emit(O.FLOORDIV, (rows, p), node)], node),
                       ("s000", "a"), [lw.emit(O.FLOORDIV, (cols, q), node)], node)
    b_full = lw.gather(lw.gather(b, ("a",), [lw.emit(O.MOD, (rows, p), node)], node),
                       ("s000", "a"), [lw.emit(O.MOD, (cols, q), node)], node)
    return lw.emit(O.MUL, (a_full, b_full), node)


def _einsum(lw, args, kwargs, node):
    """np.einsum with subscripts ('ij,jk,kl->il'; implicit output 'ij,jk' too: the indices
    that appear once, in alphabetical order), any number of distinct indices, up to three
    operands, no repeated index within an operand; '...' stands for the same leading axes in
    every operand that has it (right-aligned, as NumPy; lengths must agree: a length-1 axis is
    not broadcast against a longer one in a batched product, which then raises ValueError).

    Indices only one operand has (and the output not) are summed out first; then the operands
    are contracted two at a time (first a pair that shares an index, the smaller result
    first): a pair whose shared indices are all summed is one matmul (each operand permuted
    and reshaped to a matrix); a pair with a shared index that stays (a batch) a broadcast
    product summed over the indices nothing later needs where that product has at most three
    axes, else one batched matmul (`bmatmul`: each operand permuted and reshaped to
    (batch, rows, inner) / (batch, inner, columns)), so no intermediate exceeds rank 3
    ('bij,bjk->bik', 'bhij,bhjk->bhik', 'ij,kl->ijkl')."""
    from coarsen.ops.reductions import reduce

    if kwargs or len(args) < 2:
        lw.unsupported("einsum() takes a subscripts string and operands (no keywords)", node)
    spec = L.static(lw, args[0], node, "the subscripts")
    if not isinstance(spec, str):
        lw.unsupported(f"einsum({spec!r}, ...) is not supported", node,
                       "give the subscripts as a string, as in 'ij,jk->ik'")
    spec = spec.replace(" ", "")
    operands = [L.array(lw, x, node, "einsum", min_rank=0) for x in args[1:]]
    inputs, arrow, output = spec.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(operands) or len(operands) > 3:
        lw.type_error(f"einsum({spec!r}) with {len(operands)} operands (at most 3, one per term)", node)
    if "." in spec:
        terms, output = _expand_ellipsis(lw, spec, terms, output if arrow else None, operands, node)
        arrow = "->"
    if not all(c.isalpha() for c in "".join(terms) + output):
        lw.type_error(f"einsum({spec!r}): subscripts are letters", node)
    if not arrow:   # implicit mode: the indices that appear once, sorted
        joined = "".join(terms)
        output = "".join(sorted(c for c in set(joined) if joined.count(c) == 1))
    for t, x in zip(terms, operands):
        if len(t) != x.type.rank:
            lw.type_error(f"einsum term {t!r} for an operand of rank {x.type.rank}", node)
        if len(set(t)) != len(t):
            lw.unsupported(f"einsum term {t!r} repeats an index (a diagonal)", node, "use np.diag or np.trace")
    letters = set("".join(terms))
    if any(c not in letters for c in output) or len(set(output)) != len(output):
        lw.type_error(f"einsum output {output!r} names indices the inputs do not have", node)
    items = list(zip(terms, operands))
    for k, (t, x) in enumerate(items):   # indices only this operand has: summed now
        others = "".join(u for j, (u, _) in enumerate(items) if j != k) + output
        for c in [c for c in t if c not in others][::-1]:
            x = reduce(lw, "SUM", x, t.index(c), False, node)
            t = t.replace(c, "")
        items[k] = (t, x)
    while len(items) > 1:
        i, j = min(((i, j) for i in range(len(items)) for j in range(i + 1, len(items))),
                   key=lambda p: _pair_cost(items, p, output))
        (ta, a), (tb, b) = items[i], items[j]
        later = "".join(u for k, (u, _) in enumerate(items) if k not in (i, j)) + output
        items = [items[k] for k in range(len(items)) if k not in (i, j)]
        items.insert(0, _contract(lw, spec, ta, a, tb, b, later, node))
    t, x = items[0]
    return _permute_to(lw, x, t, output, node)


def _expand_ellipsis(lw, spec: str, terms: list, output, operands, node):
    """Each '...' replaced by letters the subscripts do not use, one per axis it stands for,
    right-aligned across operands (an operand with fewer such axes gets the last ones). An
    implicit output is those axes, then the indices that appear once, sorted (NumPy)."""
    used = set(c for c in spec if c.isalpha())
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in used]
    counts = []
    for t, x in zip(terms, operands):
        if t.count("...") > 1 or (t.count(".") != 3 * t.count("...")):
            lw.type_error(f"einsum({spec!r}): '...' at most once per term", node)
        n = x.type.rank - (len(t) - 3) if "..." in t else 0
        if n < 0:
            lw.type_error(f"einsum term {t!r} for an operand of rank {x.type.rank}", node)
        counts.append(n)
    width = max(counts)
    letters = "".join(free[:width])
    terms = [t.replace("...", letters[width - n:]) for t, n in zip(terms, counts)]
    if output is None:
        joined = "".join(t for t in terms)
        singles = "".join(sorted(c for c in set(joined) if joined.count(c) == 1 and c not in letters))
        return terms, letters + singles
    if output.count(".") not in (0, 3) or (output.count(".") == 3 and "..." not in output):
        lw.type_error(f"einsum({spec!r}): '...' at most once in the output", node)
    if "..." not in output and width:
        lw.type_error(f"einsum({spec!r}): the output has no '...' for the axes '...' stands for in the "
                      "operands", node)
    return terms, output.replace("...", letters)


def _pair_cost(items, pair, output):
    """Contract first a pair that shares an index, then the one with the smaller result."""
    i, j = pair
    ta, tb = items[i][0], items[j][0]
    later = "".join(u for k, (u, _) in enumerate(items) if k not in pair) + output
    result = {c for c in ta + tb if c in later}
    return (not set(ta) & set(tb), len(result), len(set(ta + tb)), pair)


def _permute_to(lw, x, t: str, output: str, node):
    from coarsen.ops.shape import permute

    if t == output or x.type.rank < 2:
        return x
    return permute(lw, x, [t.index(c) for c in output], node)


def _matmul_contract(lw, ta, a, tb, b, free_a, free_b, summed, node):
    """A contraction with no batch index as one matmul: a as (free_a..., summed...) merged to
    a matrix (or a vector), b as (summed..., free_b...), the product reshaped back."""
    from coarsen.ops.shape import permute, reshape

    def merged(x, t, first, second):
        x = permute(lw, x, [t.index(c) for c in first + second], node) if x.type.rank > 1 else x
        dims = L.shape(lw, x, node)
        groups = [dims[:len(first)], dims[len(first):]]
        sizes = []
        for group in groups:
            if group:
                size = group[0]
                for d in group[1:]:
                    size = lw.emit(O.MUL, (size, d), node)
                sizes.append(size)
        if len(sizes) == x.type.rank:
            return x, dims
        return reshape(lw, x, sizes, node), dims

    a2, dims_a = merged(a, ta, free_a, summed)
    b2, dims_b = merged(b, tb, summed, free_b)
    out = lw.emit(O.MATMUL, (a2, b2), node)
    want = dims_a[:len(free_a)] + dims_b[len(summed):]
    if len(want) == out.type.rank:
        return out
    return reshape(lw, out, want, node)


def _product(lw, dims, node):
    size = lw.b.const(1)
    for d in dims:
        size = lw.emit(O.MUL, (size, d), node)
    return size


def _batched_contract(lw, ta, a, tb, b, batch, rows, cols, summed, node):
    """sum over `summed` of a * b as one `bmatmul`: a permuted to (batch, rows, summed) and
    reshaped to rank 3 (an empty group is a length-1 axis), b to (batch, summed, cols); the
    product reshaped back to (batch..., rows..., cols...)."""
    from coarsen.ops.shape import permute, reshape

    def as_rank3(x, t, groups):
        x = permute(lw, x, [t.index(c) for c in sum(groups, [])], node) if x.type.rank > 1 else x
        dims = L.shape(lw, x, node)
        sizes, k = [], 0
        for group in groups:
            sizes.append(_product(lw, dims[k:k + len(group)], node))
            k += len(group)
        if all(len(g) == 1 for g in groups):
            return x, dims
        return reshape(lw, x, sizes, node), dims

    a3, dims_a = as_rank3(a, ta, [batch, rows, summed])
    b3, dims_b = as_rank3(b, tb, [batch, summed, cols])
    if len(batch) == 1:   # a batch of length 1 broadcasts against the other, as NumPy's einsum
        from coarsen.ops.shape import broadcast

        (ba, m, k), (bb, k2, n) = L.shape(lw, a3, node), L.shape(lw, b3, node)
        common = lw.emit(O.MAXIMUM, (ba, bb), node)
        a3, b3 = broadcast(lw, a3, [common, m, k], node), broadcast(lw, b3, [common, k2, n], node)
        dims_a = [common] + dims_a[1:]
    out = lw.emit(O.BMATMUL, (a3, b3), node)
    if len(batch) == len(rows) == len(cols) == 1:
        return out
    want = dims_a[:len(batch) + len(rows)] + dims_b[len(batch) + len(summed):]
    return reshape(lw, out, want, node)


def _contract(lw, spec, ta, a, tb, b, later: str, node):
    """Operands a (indices ta) and b (tb) multiplied and summed over the shared indices that
    `later` (the output and the operands still to come) does not name: (indices, value)."""
    from coarsen.ops.reductions import reduce
    from coarsen.ops.shape import permute

    summed = [c for c in ta if c in tb and c not in later]
    free_a = [c for c in ta if c not in summed]
    free_b = [c for c in tb if c not in summed and c not in ta]
    batch = [c for c in ta if c in tb and c not in summed]
    if summed and not batch:
        return "".join(free_a + free_b), _matmul_contract(lw, ta, a, tb, b, free_a, free_b, summed, node)
    order = free_a + free_b + summed
    if len(order) > 3:   # a broadcast product would exceed rank 3: one batched matmul
        rows = [c for c in free_a if c not in batch]
        return "".join(batch + rows + free_b), _batched_contract(lw, ta, a, tb, b, batch, rows, free_b,
                                                                 summed, node)
    product = None
    for t, x in ((ta, a), (tb, b)):
        present = sorted(t, key=order.index)
        x = permute(lw, x, [t.index(c) for c in present], node) if x.type.rank > 1 else x
        pattern = [":" if c in t else "n" for c in order]
        x = L.getitem(lw, x, pattern, [], node) if "n" in pattern and x.type.rank else x
        product = x if product is None else lw.emit(O.MUL, (product, x), node)
    for axis in range(len(order) - 1, len(order) - len(summed) - 1, -1):
        product = reduce(lw, "SUM", product, axis, False, node)
    return "".join(free_a + free_b), product


def _tensordot(lw, args, kwargs, node):
    """np.tensordot(a, b, axes): axes=N sums a's last N axes against b's first N; a pair of
    axis sequences pairs them up. Lowered to the einsum of those subscripts."""
    a, b, axes = L.positional(lw, args, kwargs, node, ["a", "b", "axes"], "tensordot", 2, {"axes": 2})
    a, b = (L.array(lw, x, node, "tensordot", min_rank=0) for x in (a, b))
    axes = L.static(lw, axes, node, "axes")
    ra, rb = a.type.rank, b.type.rank
    if isinstance(axes, int) and not isinstance(axes, bool):
        if not 0 <= axes <= min(ra, rb):
            lw.type_error(f"tensordot(): axes={axes} for arrays of ranks {ra} and {rb}", node)
        pairs = [(ra - axes + k, k) for k in range(axes)]
    elif isinstance(axes, tuple) and len(axes) == 2:
        left, right = (p if isinstance(p, tuple) else (p,) for p in axes)
        if len(left) != len(right):
            lw.type_error(f"tensordot(): axes={axes!r} pairs sequences of different lengths", node)
        pairs = [(L.axis_of(lw, i, ra, node, "tensordot"), L.axis_of(lw, j, rb, node, "tensordot"))
                 for i, j in zip(left, right)]
    else:
        lw.unsupported(f"tensordot() with axes={axes!r} is not supported", node,
                       "give an int or a pair of axis sequences")
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    ta = [next(letters) for _ in range(ra)]
    tb = [next(letters) for _ in range(rb)]
    for i, j in pairs:
        tb[j] = ta[i]
    summed = {ta[i] for i, _ in pairs}
    out = [c for c in ta if c not in summed] + [c for c in tb if c not in summed]
    return _einsum(lw, [f"{''.join(ta)},{''.join(tb)}->{''.join(out)}", a, b], {}, node)


def _matrix_power(lw, args, kwargs, node):
    """np.linalg.matrix_power(a, n) for an int n known at compile time: repeated squaring;
    n = 0 the identity, n < 0 powers of the inverse."""
    from coarsen.ops.constructors import eye

    L.arity(lw, args, kwargs, node, 2, "matrix_power")
    a = _matrix(lw, args[0], node, "matrix_power")
    n = L.static(lw, args[1], node, "the exponent")
    if not isinstance(n, int) or isinstance(n, bool):
        lw.unsupported(f"matrix_power() with exponent {n!r} is not supported", node,
                       "give an int known at compile time")
    size = lw.emit(O.SHAPE, (a,), node, {"dim": 0})
    if n == 0:
        return eye(lw, size, size, lw.b.const(0), node)
    if n < 0:
        a, n = lw.emit(O.INV, (a,), node), -n
    result, power = None, a
    while n:
        if n & 1:
            result = power if result is None else lw.emit(O.MATMUL, (result, power), node)
        n >>= 1
        if n:
            power = lw.emit(O.MATMUL, (power, power), node)
    return result


def _dot(lw, args, kwargs, node):
    L.arity(lw, args, kwargs, node, 2, "dot")
    a, b = (lw.as_value(x, node) for x in args)
    if a.type.rank == 0 or b.type.rank == 0:
        return lw.emit(O.MUL, (a, b), node)   # np.dot with a scalar scales
    return matmul(lw, a, b, node)


def matmul(lw, a, b, node):
    """a @ b; of two bool arrays NumPy's logical product (the or of ands): the count of true
    products, computed in float64 (exact below 2**53), compared with 0."""
    if a.type.dtype == "bool" and b.type.dtype == "bool" and a.type.rank and b.type.rank:
        a, b = (lw.cast_to(v, v.type.with_dtype("f64")) for v in (a, b))
        return lw.emit(O.GT, (lw.emit(O.MATMUL, (a, b), node), lw.b.const(0.0)), node)
    return lw.emit(O.MATMUL, (a, b), node)


def _matmul_type(types, attrs):
    a, b = types
    if a.rank == 0 or b.rank == 0:
        raise _err("matmul of a scalar; use * for scalar products")
    if a.dtype != "f64" and b.dtype != "f64":   # NumPy: int64, exact; here float64 would round
        if "bool" in (a.dtype, b.dtype) and a.dtype != b.dtype:
            raise _err("a product of an integer and a bool array is computed in float64 here (NumPy "
                       "keeps int64, exact beyond 2**53); convert one operand with .astype(float) to accept that")
        raise _err("a product of two integer arrays is computed in float64 here (NumPy keeps int64, "
                   "exact beyond 2**53); convert one operand with .astype(float) to accept that")
    if a.rank <= 2 and b.rank <= 2:
        return Type("f64", a.rank + b.rank - 2)
    raise _err("matmul of arrays of rank > 2 is not supported")


def _matmul_vjp(rev, instr, code, declared):
    (a, b), r = instr.args, instr.result
    d = rev.d(r)
    ra, rb = a.type.rank, b.type.rank
    if a.id in rev.active:
        bb = rev.ref(b)
        grad = {(2, 2): f"rt.matmul({d}, {bb}.T)", (1, 2): f"rt.matmul({bb}, {d})", (2, 1): f"rt.outer({d}, {bb})",
                (1, 1): f"{d} * {bb}"}[(ra, rb)]
        rev.accum(a, grad, code, declared)
    if b.id in rev.active:
        aa = rev.ref(a)
        grad = {(2, 2): f"rt.matmul({aa}.T, {d})", (1, 2): f"rt.outer({aa}, {d})", (2, 1): f"rt.matmul({aa}.T, {d})",
                (1, 1): f"{d} * {aa}"}[(ra, rb)]
        rev.accum(b, grad, code, declared)


def _bmatmul_type(types, attrs):
    a, b = types
    if a.rank != 3 or b.rank != 3:
        raise _err(f"a batched matmul takes two rank-3 arrays, got ranks {a.rank} and {b.rank}")
    if a.dtype != "f64" and b.dtype != "f64":
        raise _err("a product of two integer (or bool) arrays is computed in float64 here; convert one operand "
                   "with .astype(float) to accept that")
    return Type("f64", 3)


def _bmatmul_eval(instr, a, b):
    from kernels import runtime as rt

    return rt.bmatmul(a, b)


def _bmatmul_vjp(rev, instr, code, declared):
    """d a[p] = d[p] b[p]^T, d b[p] = a[p]^T d[p]."""
    (a, b), d = instr.args, rev.d(instr.result)
    if a.id in rev.active:
        rev.accum(a, f"rt.bmatmul_nt({d}, {rev.ref(b)})", code, declared)
    if b.id in rev.active:
        rev.accum(b, f"rt.bmatmul_tn({rev.ref(a)}, {d})", code, declared)


def _bmatmul_jvp(fwd, instr, args, result, tangents):
    (a, b), (ta, tb) = args, tangents
    parts = []
    if ta is not None:
        parts.append(fwd.emit(O.BMATMUL, (ta, b)))
    if tb is not None:
        parts.append(fwd.emit(O.BMATMUL, (a, tb)))
    return parts[0] if len(parts) == 1 else fwd.emit(O.ADD, tuple(parts))


def _svdvals_type(types, attrs):
    if types[0].rank != 2:
        raise _err(f"singular values of a matrix (rank 2), got rank {types[0].rank}")
    return Type("f64", 1)


def _svdvals_vjp(rev, instr, code, declared):
    """d A = U diag(d sigma) V^T (thin SVD; where singular values repeat the singular vectors
    are not unique: this is the gradient for the ones LAPACK returns, as torch's svdvals)."""
    u = rev.prog.names.reserve("_svd_u")
    vt = rev.prog.names.reserve("_svd_vt")
    code.line(f"{u}, {vt} = rt.svd_uv({rev.ref(instr.args[0])})")
    rev.accum(instr.args[0], f"rt.matmul({u} * {rev.d(instr.result)}, {vt})", code, declared)


def _svdvals_jvp(fwd, instr, args, result, tangents):
    return fwd.emit(O.SVDVALS_JVP, (args[0], tangents[0]))


def _svdvals_jvp_type(types, attrs):
    a, da = types
    if a.rank != 2 or da.rank != 2:
        raise _err("svdvals_jvp takes two matrices")
    return Type("f64", 1)


def _no_second_derivative(rev, instr, code, declared):
    from coarsen.errors import UnsupportedError

    raise UnsupportedError("a second derivative of singular values (through forward mode's "
                           "tangent) is not supported", instr.loc, "differentiate norm(x, 2) once")


OPS = [
    Structural("matmul", (), _matmul_type, lambda instr, a, b: __import__("numpy").matmul(a, b),
               lambda instr, a: f"rt.matmul({a[0]}, {a[1]})", vjp=_matmul_vjp, runtime=("matmul", "outer"),
               doc="a @ b for ranks 1-2 (the @ operator, np.dot, np.matmul, einsum)"),
    Structural("bmatmul", (), _bmatmul_type, _bmatmul_eval, lambda instr, a: f"rt.bmatmul({a[0]}, {a[1]})",
               vjp=_bmatmul_vjp, jvp=_bmatmul_jvp, runtime=("bmatmul", "bmatmul_nt", "bmatmul_tn"),
               doc="batched matrix product of rank-3 arrays, out[p] = a[p] @ b[p] (einsum's batched "
                   "contractions)"),
    Structural("svdvals", (), _svdvals_type, lambda instr, a: __import__("kernels.runtime").runtime.svdvals(a),
               lambda instr, a: f"rt.svdvals({a[0]})", vjp=_svdvals_vjp, jvp=_svdvals_jvp,
               runtime=("svdvals", "svd_uv"),
               doc="the singular values of a matrix, descending (np.linalg.norm's 2, -2, 'nuc')"),
    Structural("svdvals_jvp", (), _svdvals_jvp_type,
               lambda instr, a, da: __import__("kernels.runtime").runtime.svdvals_jvp(a, da),
               lambda instr, a: f"rt.svdvals_jvp({a[0]}, {a[1]})", vjp=_no_second_derivative,
               runtime=("svdvals_jvp",), doc="u_i^T dA v_i: the tangent of svdvals"),
    Structural("eigh_w", (), lambda t, a: _square(t, a, 1), _eigh_eval("w"), _eigh_emit("w"),
               vjp=_eigh_vjp("w"), jvp=_eigh_jvp("w"),
               runtime=("eigh_w", "eigvalsh", "eigh_v", "eigh_values_grad", "fold_triangle"),
               doc="eigenvalues of the symmetric matrix of a triangle (attrs: lower; alone: eigvalsh's), ascending: "
                   "np.linalg.eigh's w"),
    Structural("eigh_v", (), lambda t, a: _square(t, a, 2), _eigh_eval("v"), _eigh_emit("v"),
               vjp=_eigh_vjp("v"), jvp=_eigh_jvp("v"),
               runtime=("eigh_w", "eigh_v", "eigh_vectors_grad", "fold_triangle"),
               doc="eigenvectors (columns) of the symmetric matrix of a triangle: np.linalg.eigh's v"),
    Structural("lstsq", (), _lstsq_type,
               lambda instr, a, b: __import__("kernels.runtime").runtime.lstsq(a, b, _rcond_value(instr)),
               lambda instr, a: f"rt.lstsq({a[0]}, {a[1]}, {_rcond_source(instr)})", vjp=_lstsq_vjp,
               jvp=_lstsq_jvp, runtime=("lstsq", "lstsq_rank", "matmul", "outer"),
               doc="np.linalg.lstsq's solution x (attrs: rcond, None or a number)"),
    Structural("lstsq_rank", (), _lstsq_rank_type,
               lambda instr, a: __import__("kernels.runtime").runtime.lstsq_rank(a, _rcond_value(instr)),
               lambda instr, a: f"rt.lstsq_rank({a[0]}, {_rcond_source(instr)})", differentiable=False,
               runtime=("lstsq_rank",), doc="np.linalg.lstsq's rank of A"),
    Structural("qr_q", (), _qr_type("q"), lambda instr, a: __import__("kernels.runtime").runtime.qr_q(a),
               lambda instr, a: f"rt.qr_q({a[0]})", vjp=_qr_vjp("q"), jvp=_qr_jvp("q"),
               runtime=("qr_q", "qr_r", "qr_grad"), doc="np.linalg.qr's Q (mode 'reduced')"),
    Structural("qr_r", (), _qr_type("r"), lambda instr, a: __import__("kernels.runtime").runtime.qr_r(a),
               lambda instr, a: f"rt.qr_r({a[0]})", vjp=_qr_vjp("r"), jvp=_qr_jvp("r"),
               runtime=("qr_q", "qr_r", "qr_grad"), doc="np.linalg.qr's R (mode 'reduced' or 'r')"),
    Structural("det", (), lambda t, a: _square(t, a, 0), _np("det"), _emit("det"), vjp=_det_vjp,
               jvp=_det_jvp,
               doc="determinant of a matrix"),
    Structural("logabsdet", (), lambda t, a: _square(t, a, 0),
               lambda instr, x: __import__("numpy").linalg.slogdet(x)[1],
               lambda instr, a: f"np.linalg.slogdet({a[0]})[1]", vjp=_logabsdet_vjp, jvp=_logabsdet_jvp,
               doc="log |det A| (slogdet's second result)"),
    Structural("inv", (), lambda t, a: _square(t, a, 2), _np("inv"), _emit("inv"), vjp=_inv_vjp,
               jvp=_inv_jvp, doc="matrix inverse"),
    Structural("solve", (), _solve_type, _np("solve"), _emit("solve"), vjp=_solve_vjp, jvp=_solve_jvp,
               doc="x with A x = b"),
    Structural("cholesky", (), lambda t, a: _square(t, a, 2), _np("cholesky"), _emit("cholesky"),
               vjp=_cholesky_vjp, jvp=_cholesky_jvp, runtime=("fold_triangle",), doc="lower Cholesky factor of a symmetric positive definite matrix"),
]

_SPD = "x @ x.T + x.shape[0] * np.eye(x.shape[0])"
COMPOSITES = [
    Composite("det (call)", ("numpy.linalg.det",), _unary_matrix("DET", "det"),
              examples=((f"np.linalg.det({_SPD})", ((-1.0, 1.0),)),)),
    Composite("slogdet", ("numpy.linalg.slogdet",), _slogdet,
              examples=((f"np.linalg.slogdet({_SPD})[1]", ((-1.0, 1.0),)),)),
    Composite("inv (call)", ("numpy.linalg.inv",), _unary_matrix("INV", "inv"),
              examples=((f"np.linalg.inv({_SPD})", ((-1.0, 1.0),)),)),
    Composite("solve (call)", ("numpy.linalg.solve",), _solve,
              examples=((f"np.linalg.solve({_SPD}, x[:, 0])", ((-1.0, 1.0),)),)),
    Composite("cholesky (call)", ("numpy.linalg.cholesky",), _unary_matrix("CHOLESKY", "cholesky"),
              examples=((f"np.linalg.cholesky({_SPD})", ((-1.0, 1.0),)),)),
    Composite("eigh", ("numpy.linalg.eigh",), _eigh,
              examples=((f"np.linalg.eigh({_SPD})[0]", ((-1.0, 1.0),), [(3, 3), (1, 1)]),
                        (f"np.linalg.eigh({_SPD}, UPLO='U')[1] ** 2", ((-1.0, 1.0),), [(3, 3)]),
                        ("np.linalg.eigh(x)[1] @ np.diag(np.linalg.eigh(x)[0] ** 2) @ np.linalg.eigh(x)[1].T",
                         ((-1.0, 1.0),), [(3, 3)]))),
    Composite("eigvalsh", ("numpy.linalg.eigvalsh",), _eigvalsh,
              examples=((f"np.linalg.eigvalsh({_SPD})", ((-1.0, 1.0),), [(3, 3)]),
                        ("np.linalg.eigvalsh(x, 'U')", ((-1.0, 1.0),), [(3, 3), (2, 2)]))),
    Composite("lstsq", ("numpy.linalg.lstsq",), _lstsq,
              examples=(("np.linalg.lstsq(x, y[:, 0], rcond=None)[0]", ((-1.0, 1.0), (-1.0, 1.0)), [(4, 2), (3, 3)]),
                        ("np.linalg.lstsq(x, y)[0]", ((-1.0, 1.0), (-1.0, 1.0)), [(4, 3)]))),
    Composite("pinv", ("numpy.linalg.pinv",), _pinv,
              examples=(("np.linalg.pinv(x)", ((-1.0, 1.0),), [(4, 2), (3, 3)]),)),
    Composite("qr", ("numpy.linalg.qr",), _qr,
              examples=(("np.linalg.qr(x)[0] * np.sign(np.diag(np.linalg.qr(x)[1]))", ((-1.0, 1.0),),
                         [(4, 2), (3, 3)]),
                        ("np.linalg.qr(x, mode='r') ** 2", ((-1.0, 1.0),), [(4, 3)]))),
    Composite("norm", ("numpy.linalg.norm",), _norm,
              examples=(("np.linalg.norm(x)", ((0.5, 3.0),)),
                        ("np.linalg.norm(x, 3, axis=-1)", ((0.5, 3.0),)),
                        ("np.linalg.norm(x, 1)", ((0.5, 3.0),), [(2, 3), (3,)]),
                        ("np.linalg.norm(x, -1)", ((0.5, 3.0),), [(2, 3), (1, 3)]),
                        ("np.linalg.norm(x, np.inf)", ((0.5, 3.0),), [(2, 3), (3,)]),
                        ("np.linalg.norm(x, -np.inf)", ((0.5, 3.0),), [(2, 3)]),
                        ("np.linalg.norm(x, 'fro')", ((0.5, 3.0),), [(2, 3)]),
                        ("np.linalg.norm(x, 1, axis=(2, 0), keepdims=True)", ((0.5, 3.0),), [(2, 3, 4)]),
                        ("np.linalg.norm(x, np.inf, axis=(1, 2))", ((0.5, 3.0),), [(2, 3, 4)]),
                        ("np.linalg.norm(x, axis=(0, 1))", ((0.5, 3.0),), [(2, 3, 1)]),
                        ("np.linalg.norm(x, 2)", ((-3.0, 3.0),), [(2, 3), (3, 3), (1, 4)]),
                        ("np.linalg.norm(x, -2)", ((-3.0, 3.0),), [(3, 2), (3, 3)]),
                        ("np.linalg.norm(x, 'nuc')", ((-3.0, 3.0),), [(2, 3), (3, 3)]),
                        ("np.linalg.norm(x, 2, axis=(1, 0), keepdims=True)", ((-3.0, 3.0),), [(3, 2)]))),
    Composite("tensordot", ("numpy.tensordot",), _tensordot,
              examples=(("np.tensordot(x, y, axes=2)", ((-3.0, 3.0), (-3.0, 3.0)), [(2, 3)]),
                        ("np.tensordot(x, y.T, 1)", ((-3.0, 3.0), (-3.0, 3.0)), [(2, 3)]),
                        ("np.tensordot(x, y, axes=([0, 2], [2, 0]))", ((-3.0, 3.0), (-3.0, 3.0)), [(2, 3, 2)]),
                        ("np.tensordot(x, y, axes=0)", ((-3.0, 3.0), (-3.0, 3.0)), [(2, 3)]))),
    Composite("matrix_power", ("numpy.linalg.matrix_power",), _matrix_power,
              examples=(("np.linalg.matrix_power(x, 3)", ((-1.0, 1.0),), [(3, 3)]),
                        ("np.linalg.matrix_power(x, 0)", ((-1.0, 1.0),), [(2, 2)]),
                        (f"np.linalg.matrix_power({_SPD}, -2)", ((-1.0, 1.0),), [(3, 3)]))),
    Composite("dot", ("numpy.dot", "numpy.matmul"), _dot, methods=("dot",),
              examples=(("np.dot(x, x.T)", ((-3.0, 3.0),)),)),
    Composite("vdot", ("numpy.vdot",), _vdot, examples=(("np.vdot(x, x)", ((-3.0, 3.0),)),)),
    Composite("inner", ("numpy.inner",), _inner, examples=(("np.inner(x, x)", ((-3.0, 3.0),)),)),
    Composite("outer", ("numpy.outer",), _outer, examples=(("np.outer(x, x)", ((-3.0, 3.0),)),)),
    Composite("cross", ("numpy.cross",), _cross,
              examples=(("np.cross(x[:3], x[1:4])", ((-3.0, 3.0),), [(4,)]),
                        ("np.cross(x[:, :3], x[:, 1:])", ((-3.0, 3.0),), [(2, 4)]))),
    Composite("kron", ("numpy.kron",), _kron,
              examples=(("np.kron(np.ravel(x), np.ravel(x))", ((-3.0, 3.0),)),
                        ("np.kron(x, y)", ((-3.0, 3.0), (-3.0, 3.0)), [(2, 3), (3, 1), (1, 2), (0, 2)]),
                        ("np.kron(x, y[0])", ((-3.0, 3.0), (-3.0, 3.0)), [(2, 3)]),
                        ("np.kron(x[0], y)", ((-3.0, 3.0), (-3.0, 3.0)), [(2, 3)]))),
    Composite("einsum", ("numpy.einsum",), _einsum,
              examples=(("np.einsum('ij,kj->ik', x, x)", ((-3.0, 3.0),)),
                        ("np.einsum('ij,jk,kl->il', x, y.T, x)", ((-3.0, 3.0), (-3.0, 3.0))),
                        ("np.einsum('ij,jk,kl', x, y.T, x)", ((-3.0, 3.0), (-3.0, 3.0))),
                        ("np.einsum('ij,ij,ij->j', x, y, x)", ((-3.0, 3.0), (-3.0, 3.0))),
                        ("np.einsum('ab,cd,bd->ac', x, y, x.T @ y)", ((-3.0, 3.0), (-3.0, 3.0))),
                        ("np.einsum('ij,j', x, y[0])", ((-3.0, 3.0), (-3.0, 3.0))),
                        ("np.einsum('ij->', x)", ((-3.0, 3.0),)),
                        ("np.einsum('ji', x)", ((-3.0, 3.0),)),
                        ("np.einsum('ijk,kl->lij', x, y[0])", ((-3.0, 3.0), (-3.0, 3.0)), [(2, 3, 3)]),
                        ("np.einsum('i,i,i->', x[0], y[0], x[0])", ((-3.0, 3.0), (-3.0, 3.0))),
                        # batched contractions beyond rank 3 (bmatmul), '...'
                        ("np.einsum('bij,bjk->bik', x, y)", ((-3.0, 3.0), (-3.0, 3.0)),
                         [(2, 3, 3), (1, 2, 2), (0, 2, 2)]),
                        ("np.einsum('bij,bjk->bik', x[:1], y)", ((-3.0, 3.0), (-3.0, 3.0)), [(2, 3, 3)]),
                        ("np.einsum('bij,bkj,bkl->bil', x, y, x)", ((-3.0, 3.0), (-3.0, 3.0)), [(2, 3, 3)]),
                        ("np.einsum('...ij,...jk->...ik', x, y)", ((-3.0, 3.0), (-3.0, 3.0)),
                         [(2, 3, 3), (3, 3)]),
                        ("np.einsum('bhij,bhkj->bhik', x, y)", ((-3.0, 3.0), (-3.0, 3.0)), [(2, 2, 3, 3)]),
                        ("np.einsum('ij,kl->ijkl', x, y)", ((-3.0, 3.0), (-3.0, 3.0)), [(2, 3)]),
                        ("np.einsum('...i,...i', x, y)", ((-3.0, 3.0), (-3.0, 3.0)), [(2, 3), (3,)]),
                        ("np.einsum('...ij,jk', x, y[0])", ((-3.0, 3.0), (-3.0, 3.0)), [(2, 3, 3)]))),
]
