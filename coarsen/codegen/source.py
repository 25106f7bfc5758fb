"""A small builder for indented Python source, and value naming."""
from __future__ import annotations

import keyword
import re
from contextlib import contextmanager


class Code:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0

    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def extend(self, other: "Code") -> None:
        for text in other.lines:
            self.lines.append("    " * self.depth + text)

    @contextmanager
    def block(self, header: str):
        self.line(header)
        self.depth += 1
        start = len(self.lines)
        try:
            yield
        finally:
            if len(self.lines) == start:
                self.line("pass")
            self.depth -= 1

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


class Names:
    """Readable, unique Python names for IR values: the source name plus a number."""

    def __init__(self, hints: dict[int, str]) -> None:
        self.hints = hints
        self.names: dict[int, str] = {}
        self.taken: set[str] = {"np", "rt"}

    def reserve(self, name: str) -> str:
        base = name
        k = 1
        while name in self.taken or keyword.iskeyword(name):
            name = f"{base}_{k}"
            k += 1
        self.taken.add(name)
        return name

    def of(self, value) -> str:
        name = self.names.get(value.id)
        if name is None:
            from coarsen.segments import value_name
            name = self.reserve(value_name(value, self.hints.get(value.id, ""), False))
            self.names[value.id] = name
        return name
