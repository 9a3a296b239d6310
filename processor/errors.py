"""Start-up errors: something the process needs before it can start is missing.

``energy-ingest`` prints a ``StartupError`` as ``error: ...`` in one line, without a traceback,
and exits with ``EXIT_STARTUP``; ``up`` then stops at once instead of restarting a worker that
can never start. The checks that raise it live with what they check.
"""

from __future__ import annotations

EXIT_STARTUP = 2


class StartupError(RuntimeError):
    """The text says what was tried and how to fix it."""
