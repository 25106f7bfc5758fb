"""User-facing errors of the compiler.

Every error that a user's program can trigger is a `CoarsenError` that points at the user's
source (`filename`, `lineno`, `col`) and prints like a compiler diagnostic:

    model.py:12:8: error: generators are not supported
        total = sum(v * v for v in xs)
                    ^
    hint: build the value with a for loop over range(len(xs))
"""
from __future__ import annotations

import linecache
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Loc:
    """A position in the user's source: 1-based line, 0-based column (as `ast` gives them)."""

    filename: str
    lineno: int
    col: int

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno}:{self.col + 1}"

    def source_line(self) -> str:
        return linecache.getline(self.filename, self.lineno).rstrip("\n")


UNKNOWN_LOC = Loc("<unknown>", 0, 0)


class CoarsenError(Exception):
    """An error in a program handed to coarsen, located in the user's source."""

    def __init__(self, message: str, loc: Loc | None = None, hint: str | None = None):
        self.message = message
        self.loc = loc or UNKNOWN_LOC
        self.hint = hint
        super().__init__(self._render())

    @property
    def filename(self) -> str:
        return self.loc.filename

    @property
    def lineno(self) -> int:
        return self.loc.lineno

    @property
    def col(self) -> int:
        return self.loc.col

    def _render(self) -> str:
        text = f"{self.loc}: error: {self.message}"
        line = self.loc.source_line() if self.loc.lineno else ""
        if line:
            text += f"\n    {line}\n    {' ' * self.loc.col}^"
        if self.hint:
            text += f"\nhint: {self.hint}"
        return text


class UnsupportedError(CoarsenError):
    """The program uses a construct outside the language coarsen compiles."""


class UnsupportedAtRunTime(UnsupportedError):
    """An UnsupportedError that a run-time check raises (`Op.CHECK`, where only the values
    decide): its location given as constants, which generated code can hold."""

    def __init__(self, message: str, filename: str = "<unknown>", lineno: int = 0, col: int = 0,
                 hint: str | None = None):
        super().__init__(message, Loc(filename, lineno, col), hint)


def _set_runtime_refusal() -> None:
    import kernels.runtime
    kernels.runtime.Refusal = UnsupportedAtRunTime   # generated code raises it as `rt.Refusal`


_set_runtime_refusal()


class CoarsenTypeError(UnsupportedError):
    """Values of incompatible types meet (e.g. a scalar on one path and an array on another)."""


class InternalError(CoarsenError):
    """A bug in coarsen: the message names the pass; please report it with the program."""
