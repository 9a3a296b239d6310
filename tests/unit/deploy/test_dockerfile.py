"""The Dockerfile's structure (no Docker engine or linter here): multi-stage, slim, not root."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n", "", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


@pytest.fixture(scope="module")
def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for ins in instructions():
        if ins[0] == "FROM":
            found.append([])
        assert found, "the Dockerfile must start with FROM"
        found[-1].append(ins)
    return found


def test_it_builds_in_one_stage_and_runs_from_a_slim_one(
        stages: list[list[tuple[str, str]]]) -> None:
    assert len(stages) >= 2
    build_name = stages[0][0][1].split()[-1]
    assert stages[0][0][1].startswith("python:3.11-slim AS ")
    final = stages[-1]
    assert final[0][1].split()[0] == "python:3.11-slim"
    copies = [args for word, args in final if word == "COPY"]
    assert copies and all(c.startswith(f"--from={build_name} ") for c in copies), \
        "the runtime stage takes only what the build stage made"
    assert not any("build-essential" in args for _word, args in final), "no compilers at run"


def test_it_runs_as_an_unprivileged_user(stages: list[list[tuple[str, str]]]) -> None:
    users = [args for word, args in stages[-1] if word == "USER"]
    assert users, "the runtime stage sets USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_the_entrypoint_is_the_console_script(stages: list[list[tuple[str, str]]]) -> None:
    final = dict(stages[-1])
    assert json.loads(final["ENTRYPOINT"]) == ["energy-ingest"]
    assert json.loads(final["CMD"]) == ["worker"]
    env = final["ENV"]
    assert "WEB_BIND=0.0.0.0" in env, "the web server must be reachable from outside"
    assert "EXPOSE" in final and final["EXPOSE"] == "3000"


def test_the_package_and_its_migrations_are_copied() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for package in ("db", "processor", "producers"):
        assert f"COPY {package} ./{package}" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    for path in (".git", ".venv", ".energy", ".env", "tests"):
        assert path in ignored
