"""Code generation: IR -> readable Python/NumPy source (compiled by `kernels`)."""
