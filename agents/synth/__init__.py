"""Synthetic training data: explore the corpus with tools, write grounded questions, filter
by solver pass rate, de-duplicate against evaluation sets, repeat with stronger solvers."""
from .check import audit, is_correct, truth
from .dedup import NearDuplicates
from .explorer import ToolSession, explore
from .pipeline import SynthResult, default_solvers, pass_rates, synthesize

__all__ = ["explore", "ToolSession", "synthesize", "SynthResult", "default_solvers",
           "pass_rates", "NearDuplicates", "audit", "is_correct", "truth"]
