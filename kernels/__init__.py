"""kernels: compile generated source for a target and run it (knows nothing of differentiation)."""
from kernels.targets import TARGETS, TargetUnavailable, compile_source

__all__ = ["compile_source", "TARGETS", "TargetUnavailable"]
