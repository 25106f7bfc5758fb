"""Reverse-mode differentiation over segments (see `reverse`)."""
from coarsen.autodiff.reverse import Reverse, derivative_source

__all__ = ["Reverse", "derivative_source"]
