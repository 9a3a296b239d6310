"""What a database error means for a writer's batch, by kind (``classify``).

- transient: the connection or the server's state, which passes (a lost connection, a
  shutdown, a conflict between transactions): wait and write the same batch again;
- permanent: a condition of the database that does not pass by itself (its disk is full, it
  is read-only, a table or partition the rows need is missing): the batch cannot be written
  until an operator acts, and waiting must say so (``/readyz`` degraded, with the cause);
- refused: this batch's data (a constraint an operator added, a value out of a column's
  range): some readings are refused, the others can be written (the writer splits the batch
  to find them);
- None: anything else, a bug of ours: the worker exits so the batch is redelivered.
"""

from __future__ import annotations

from typing import Literal

import psycopg
from psycopg import errors

Kind = Literal["transient", "permanent", "refused"]

# permanent conditions and what /readyz and the log say of them
PERMANENT: dict[type[BaseException], str] = {
    errors.DiskFull: "the database's disk is full",
    errors.ReadOnlySqlTransaction: "the database is read-only",
    errors.UndefinedTable: "a table the writers need is missing (run energy-ingest migrate)",
    errors.InsufficientPrivilege: "the database user may not write the tables",
}
MISSING_PARTITION = "no history partition takes these readings (the default one is missing)"


def classify(exc: BaseException) -> tuple[Kind | None, str]:
    """The kind of a database error, and the cause to report for a permanent one (else the
    database's first line)."""
    for cls, cause in PERMANENT.items():
        if isinstance(exc, cls):
            return "permanent", cause
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, errors.CheckViolation) and "no partition of relation" in str(exc):
        return "permanent", MISSING_PARTITION
    if isinstance(exc, psycopg.errors.IntegrityError | psycopg.errors.DataError):
        return "refused", message
    if isinstance(exc, psycopg.OperationalError):
        return "transient", message
    return None, message
