"""Where ``energy-ingest up`` left its embedded services, so other commands find them."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

SERVICES_FILE = "services.json"


def write_services_file(data_dir: Path, bootstrap: str, dsn: str) -> Path:
    """Let other commands (simulate, publish, psql hints) find the services ``up`` started."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SERVICES_FILE
    path.write_text(json.dumps({"bootstrap": bootstrap, "dsn": dsn, "pid": os.getpid(),
                                "started": time.time()}))
    return path


def running_services(data_dir: Path) -> dict[str, Any] | None:
    """The services of a running ``energy-ingest up``, if one is running."""
    path = data_dir / SERVICES_FILE
    try:
        info = json.loads(path.read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return dict(info)
