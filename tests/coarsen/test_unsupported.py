"""Programs outside the language fail with a located, named `CoarsenError`, never a traceback.

For each program of `unsupported_programs.CASES`: tracing raises the expected subclass of
`coarsen.CoarsenError` (`UnsupportedError` or `CoarsenTypeError`; an `InternalError` is a
compiler bug), whose `filename` is the program's file, whose `lineno` is the line marked
`# error here`, and whose message names the construct. The rendered error shows the source
line and a caret.
"""
from __future__ import annotations

import inspect

import pytest

import coarsen
import unsupported_programs
from unsupported_programs import CASES

MARKER = "# error here"


def _marked_line(fn) -> int:
    """The absolute line number of the `# error here` comment in fn's source."""
    lines, first = inspect.getsourcelines(fn)
    marked = [first + k for k, line in enumerate(lines) if MARKER in line]
    assert len(marked) == 1, f"{fn.__name__} needs exactly one `{MARKER}` line"
    return marked[0]


def _expected_line(fn) -> int:
    if MARKER in inspect.getsource(fn):
        return _marked_line(fn)
    # the error is in a function it calls (ping -> pong, write_through_helper -> helper)
    for name in fn.__code__.co_names:
        callee = getattr(unsupported_programs, name, None)
        if inspect.isfunction(callee) and MARKER in inspect.getsource(callee):
            return _marked_line(callee)
    raise AssertionError(f"no `{MARKER}` for {fn.__name__}")


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("fn, args, error, words", CASES,
                         ids=[c[0].__name__ if c[0].__name__ != "<lambda>" else "lambda_fn" for c in CASES])
def test_unsupported_program_raises_located_error(fn, args, error, words):
    with pytest.raises(coarsen.CoarsenError) as info:
        coarsen.trace(fn, *args)
    err = info.value
    assert not isinstance(err, coarsen.InternalError), f"internal error (a compiler bug): {err}"
    assert isinstance(err, error), f"expected {error.__name__}, got {type(err).__name__}: {err}"
    assert err.filename == unsupported_programs.__file__
    assert err.lineno == _expected_line(fn), str(err)
    for word in words:
        assert word in err.message, f"{word!r} not in the message: {err.message!r}"
    rendered = str(err)
    assert rendered.startswith(f"{err.filename}:{err.lineno}:{err.col + 1}: error: ")
    source_line = inspect.getsourcelines(unsupported_programs)[0][err.lineno - 1].rstrip("\n")
    assert source_line in rendered and "^" in rendered


def test_errors_are_coarsen_errors():
    assert issubclass(coarsen.UnsupportedError, coarsen.CoarsenError)
    assert issubclass(coarsen.CoarsenTypeError, coarsen.CoarsenError)
