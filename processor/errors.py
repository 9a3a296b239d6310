"""Start-up errors: something the process needs before it can start is missing.

``energy-ingest`` prints a ``StartupError`` as ``error: ...`` in one line, without a traceback,
and exits with ``EXIT_STARTUP``; ``up`` then stops at once instead of restarting a worker that
can never start. The checks that raise it live with what they check.
"""

from __future__ import annotations

EXIT_STARTUP = 2


class StartupError(RuntimeError):
    """The text says what was tried and how to fix it."""


def first_line(exc: BaseException) -> str:
    """An exception said in one line (its first), or its type when it says nothing."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
