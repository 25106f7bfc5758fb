"""coarsen: automatic differentiation by coarsening.

Public API (filled in as the compiler lands): grad, value_and_grad, vjp, jit, vmap, explain,
trace, CoarsenError, UnsupportedError.
"""
