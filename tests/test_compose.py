"""docker-compose.yml checked the way ``docker compose config`` would (CI has no Docker
engine): the file parses, anchors resolve, every dependency names a service with a usable
condition, and the API and the worker get settings that validate and put every file in the
MinIO bucket — with no volume shared between them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_dependencies_name_services_with_known_conditions(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"db", "minio", "createbucket", "migrate", "api", "worker"} <= set(services)
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, (name, dep)
            assert cond["condition"] in {
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            }
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], (name, dep)
    named = set(compose.get("volumes") or {})
    for name, svc in services.items():
        for vol in svc.get("volumes", []):
            source = vol.split(":", 1)[0]
            assert source in named or source.startswith(("/", ".")), (name, vol)


def test_api_and_worker_store_in_the_minio_bucket_without_shared_disk(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    from server.config import Settings
    from server.storage.s3 import parse_s3_url

    services = compose["services"]
    api, worker = services["api"], services["worker"]
    assert api["environment"] == worker["environment"]  # one anchor, resolved
    env = {k: str(v) for k, v in api["environment"].items()}
    assert all(k.startswith("BACKTAL_") for k in env)
    fields = {f"BACKTAL_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields, set(env) - fields  # no misspelt setting
    settings = Settings(**{k[len("BACKTAL_") :].lower(): v for k, v in env.items()})
    settings.check_storage()
    bucket, prefix = parse_s3_url(settings.storage_url)
    assert settings.s3_endpoint_url == "http://minio:9000"
    assert settings.s3_addressing_style == "path" and settings.s3_delivery == "proxy"
    minio = services["minio"]["environment"]
    assert settings.s3_access_key_id == minio["MINIO_ROOT_USER"]
    assert settings.s3_secret_access_key.get_secret_value() == minio["MINIO_ROOT_PASSWORD"]
    assert f"local/{bucket}" in " ".join(services["createbucket"]["command"])
    for svc in (api, worker):
        assert svc["depends_on"]["createbucket"]["condition"] == "service_completed_successfully"
    shared = {v.split(":", 1)[0] for v in api.get("volumes", [])} & {
        v.split(":", 1)[0] for v in worker.get("volumes", [])
    }
    assert shared == set(), "the API and the worker must not share a media volume"
    assert prefix  # objects under s3://backtal/<prefix>/
