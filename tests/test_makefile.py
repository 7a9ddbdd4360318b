"""``make serve`` starts the API and a worker; ``make api`` the API alone (dry runs)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def commands(target: str) -> list[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", target, "PORT=8123"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if "server.cli serve" in line]


def test_serve_starts_a_worker_and_api_does_not() -> None:
    (serve,) = commands("serve")
    assert "--with-worker" in serve and "--port 8123" in serve
    (api,) = commands("api")
    assert "--with-worker" not in api and "--port 8123" in api
