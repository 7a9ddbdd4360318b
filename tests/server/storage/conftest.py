"""A real S3 API server on loopback for the storage tests: moto's standalone server
(``python -m moto.server``, a dev dependency) in a subprocess on a free port — the tests
talk HTTP to it through boto3 exactly as they would to MinIO or AWS."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            pytest.fail(f"moto server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/moto-api/", timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"moto server did not answer on {url}: {log.read_text()[-2000:]}")
            time.sleep(0.1)
    yield url
    os.killpg(proc.pid, signal.SIGTERM)  # its own session: only the server and its children
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture
def s3_settings(s3_endpoint: str, tmp_path):  # type: ignore[no-untyped-def]
    """Settings naming a fresh bucket (and a prefix) on the moto server."""
    from server.config import Settings

    bucket = f"backtal-{uuid.uuid4().hex[:12]}"
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        media_dir=tmp_path / "media",
        storage_url=f"s3://{bucket}/studio/media",
        s3_endpoint_url=s3_endpoint,
        s3_region=REGION,
        s3_access_key_id=ACCESS_KEY,
        s3_secret_access_key=SECRET_KEY,
        s3_addressing_style="path",
        s3_part_size_mib=5,
    )


@pytest.fixture
def s3_storage(s3_settings):  # type: ignore[no-untyped-def]
    from server.storage import open_storage

    storage = open_storage(s3_settings)
    storage.ensure_bucket()
    return storage
