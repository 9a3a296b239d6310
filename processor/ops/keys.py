"""``energy-ingest keys create|list|revoke``: the API keys (processor/domain/api_keys.py).

A new key goes to standard output alone (``KEY=$(energy-ingest keys create --scope ingest)``);
what to do with it goes to standard error. It is shown this once: only its digest is stored.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from db.api_keys import count_active, insert_key, list_keys, revoke_key
from processor.domain.api_keys import SCOPE_MEANING, Scope, make_key
from processor.settings import Settings


def create(dsn: str, scopes: Sequence[Scope], name: str, settings: Settings) -> None:
    key = make_key()
    insert_key(dsn, key, scopes, name)
    print(key.token)
    say = sys.stderr.write
    say(f"made key {key.key_id}{f' ({name})' if name else ''} with the scope(s) "
        f"{', '.join(scopes)}: {'; '.join(SCOPE_MEANING[s] for s in scopes)}.\n")
    say("Keep it now: it is shown only this once (only its SHA-256 digest is stored). "
        "Send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>', e.g.\n")
    path = "/v1/telemetry" if scopes == ("ingest",) else "/v1/analytics/fleet"
    say(f"  curl -H 'Authorization: Bearer {key.token[:16]}...' "
        f"http://{settings.web_bind}:{settings.web_port}{path}\n")
    if count_active(dsn) == 1 and not settings.bind_public:
        say("This is the first key: from now on the API requires keys on loopback too "
            "(revoke every key to open it again).\n")


def show(dsn: str) -> None:
    keys = list_keys(dsn)
    if not keys:
        print("no API key (the API is open on loopback; beyond it, it will not start)")
        return
    rows = [("ID", "NAME", "SCOPES", "CREATED", "REVOKED")]
    rows += [(k.key_id, k.name or "-", ",".join(k.scopes), f"{k.created_at:%Y-%m-%d %H:%M}",
              f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "-") for k in keys]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
              .rstrip())


def revoke(dsn: str, key_id: str, settings: Settings) -> bool:
    if not revoke_key(dsn, key_id):
        print(f"error: no active key {key_id!r} (see `energy-ingest keys list`)",
              file=sys.stderr)
        return False
    print(f"revoked {key_id}: the servers stop taking it within "
          f"{settings.api_keys_refresh_seconds:g} s (API_KEYS_REFRESH_SECONDS)")
    if count_active(dsn) == 0 and not settings.bind_public:
        print("no active key is left: on loopback the API is open again", file=sys.stderr)
    return True
