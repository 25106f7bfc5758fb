"""np.linalg.svd: U, s and V^T, NumPy's own numbers (its LAPACK's signs) on every target, and
their derivatives.

Primitives (one matrix; attrs `full`: full_matrices, `alone`: compute_uv=False's values):
- `svd_u`, `svd_s`, `svd_vt`: the factors (`rt.svd_u`, ...: the host's NumPy; the cpu target
  calls it in object mode). VJP `rt.svd_grad` (Townsend 2016, as torch), JVP `svd_jvp` /
  `svd_values_jvp` (as JAX's svd_jvp_rule), each computed from NumPy's factors of the same
  call, so the derivative follows the signs the user got.
- Where a derivative is undefined it is refused when running, at the user's call (never a
  number that is not the derivative): U's or V's adjoint coupling the vectors of repeated
  singular values, or any with a zero singular value; unequal adjoints of repeated singular
  values, a nonzero one of a zero singular value (a kink, as |x| at 0); full_matrices' extra
  columns of U (rows of V^T) with a nonzero adjoint or tangent (any orthonormal completion
  would do). Forward mode refuses any nonzero U/V tangent at repeated or zero singular values,
  and a singular-value tangent there unless the perturbation keeps them repeated.
np.linalg.norm's 2/-2/'nuc' use `linalg`'s `svdvals` (a subgradient at repeated values, as torch).
"""
from __future__ import annotations

from coarsen.ir.types import Type
from coarsen.ops import lowering as L
from coarsen.ops.linalg import _err, _matrix, _refuse_line, _result
from coarsen.ops.spec import Composite, O, Structural
from kernels import runtime as rt

U, S, VT = rt.SVD_U, rt.SVD_S, rt.SVD_VT


def _type(rank: int):
    def rule(types, attrs):
        if types[0].rank != 2:
            raise _err(f"svd of a matrix (rank 2), got rank {types[0].rank}")
        return Type("f64", rank)
    return rule


def _tangent_type(rank: int, dtype: str = "f64"):
    def rule(types, attrs):
        if types[0].rank != 2 or types[1].rank != 2:
            raise _err("an svd tangent takes a matrix and its tangent")
        return Type(dtype, rank)
    return rule


def _flag(instr) -> bool:
    return bool(instr.attrs.get("alone" if "alone" in instr.attrs else "full"))


def _factor_call(which: int):
    name = {U: "svd_u", S: "svd_s", VT: "svd_vt"}[which]
    return (lambda instr, a: f"rt.{name}({a[0]}, {_flag(instr)})",
            lambda instr, a: getattr(__import__("kernels.runtime").runtime, name)(a, _flag(instr)))


def _full(instr) -> bool:
    return bool(instr.attrs.get("full", False))


def _vjp(which: int):
    """d A from the factor's adjoint (`rt.svd_grad`); undefined adjoints refused when running."""
    def rule(rev, instr, code, declared):
        a = instr.args[0]
        g, bad = rev.prog.names.reserve("_svd_g"), rev.prog.names.reserve("_svd_bad")
        code.line(f"{g}, {bad} = rt.svd_grad({rev.ref(a)}, {rev.d(instr.result)}, {which}, {_full(instr)})")
        code.line(f"if {bad}:")
        code.line(_refuse_line(instr, rt.svd_undefined(which, ""), rt.SVD_HINT))
        rev.accum(a, g, code, declared)
    return rule


def _jvp(which: int):
    """The tangent op (`rt.svd_jvp`, `rt.svd_values_jvp`) refuses an undefined tangent itself,
    at the user's call, when running: a tangent nothing reads (U's in np.linalg.svd(a)[1]) is
    dropped with its refusal."""
    def rule(fwd, instr, args, result, tangents):
        a, t = args[0], fwd.fit(tangents[0], args[0])
        if which == S:
            return fwd.emit(O.SVD_VALUES_JVP, (a, t), {"full": _full(instr)})
        return fwd.emit(O.SVD_JVP, (a, t), {"which": which, "full": _full(instr)})
    return rule


def _where(instr) -> tuple:
    loc = instr.loc
    return loc.filename, loc.lineno, loc.col


def _tangent_eval(name: str, *keys: str):
    def evaluate(instr, a, da):
        return getattr(rt, name)(a, da, *(instr.attrs[k] for k in keys), *_where(instr))
    return evaluate


def _tangent_emit(name: str, *keys: str):
    def emit(instr, a):
        extra = ", ".join(repr(x) for x in (*(instr.attrs[k] for k in keys), *_where(instr)))
        return f"rt.{name}({a[0]}, {a[1]}, {extra})"
    return emit


def _no_second_derivative(rev, instr, code, declared):
    from coarsen.errors import UnsupportedError

    raise UnsupportedError("a second derivative of np.linalg.svd (through forward mode's tangent) is not "
                           "supported", instr.loc, "differentiate the SVD once")


def _svd(lw, args, kwargs, node):
    """np.linalg.svd(a, full_matrices=True, compute_uv=True, hermitian=False) -> NumPy's
    SVDResult (U, S, Vh), or S (compute_uv=False)."""
    a, full, uv, herm = L.positional(lw, args, kwargs, node, ["a", "full_matrices", "compute_uv", "hermitian"],
                                     "svd", 1)
    a = _matrix(lw, a, node, "svd")
    flags = []
    for binding, name, default in ((full, "full_matrices", True), (uv, "compute_uv", True),
                                   (herm, "hermitian", False)):
        value = L.static(lw, binding, node, name)
        value = default if value is None else value
        if not isinstance(value, (bool, int)) or isinstance(value, float):
            lw.unsupported(f"svd() with {name}={value!r} is not supported", node, f"give {name}=True or False")
        flags.append(bool(value))
    full, uv, herm = flags
    if herm:
        lw.unsupported("svd() with hermitian=True is not supported", node,
                       "drop hermitian=True (the general SVD of a symmetric matrix), or use np.linalg.eigh")
    if not uv:
        return lw.emit(O.SVD_S, (a,), node, {"alone": True})
    return _result("SVDResult", lw.emit(O.SVD_U, (a,), node, {"full": full}),
                   lw.emit(O.SVD_S, (a,), node, {"alone": False}), lw.emit(O.SVD_VT, (a,), node, {"full": full}))


def _factor(which: int, rank: int, doc: str) -> Structural:
    emit, evaluate = _factor_call(which)
    name = {U: "svd_u", S: "svd_s", VT: "svd_vt"}[which]
    return Structural(name, (), _type(rank), evaluate, emit, vjp=_vjp(which), jvp=_jvp(which),
                      runtime=(name, "svd_grad"), doc=doc)


OPS = [
    _factor(U, 2, "np.linalg.svd's U (attrs: full, full_matrices)"),
    _factor(S, 1, "np.linalg.svd's singular values, descending (attrs: alone, compute_uv=False's)"),
    _factor(VT, 2, "np.linalg.svd's V^T (attrs: full, full_matrices)"),
    Structural("svd_jvp", (), _tangent_type(2), _tangent_eval("svd_jvp", "which", "full"),
               _tangent_emit("svd_jvp", "which", "full"), vjp=_no_second_derivative, runtime=("svd_jvp",),
               doc="the tangent of svd's U or V^T (attrs: which, full); refuses an undefined one when running"),
    Structural("svd_values_jvp", (), _tangent_type(1), _tangent_eval("svd_values_jvp", "full"),
               _tangent_emit("svd_values_jvp", "full"), vjp=_no_second_derivative, runtime=("svd_values_jvp",),
               doc="the tangent of svd's singular values, diag(U^T dA V); refuses an undefined one when running"),
]

COMPOSITES = [
    Composite("svd", ("numpy.linalg.svd",), _svd,
              examples=(("np.linalg.svd(x)[1]", ((-1.0, 1.0),), [(4, 3), (2, 3)]),
                        ("np.linalg.svd(x, full_matrices=False)[0] * np.linalg.svd(x, full_matrices=False)[2][0]",
                         ((-1.0, 1.0),), [(3, 3)]),
                        ("np.linalg.svd(x, compute_uv=False) ** 2", ((-1.0, 1.0),), [(3, 4)]),
                        ("np.linalg.svd(x)[2] @ x.T", ((-1.0, 1.0),), [(3, 3)]))),
]
