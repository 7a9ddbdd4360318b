"""S3 settings and storage on the session's real S3 API server (``s3_endpoint`` in
tests/conftest.py: moto's standalone server in a subprocess; the tests talk HTTP to it
through boto3 exactly as they would to MinIO or AWS)."""

from __future__ import annotations

import pytest

from tests.s3server import ACCESS_KEY, REGION, SECRET_KEY

__all__ = ["ACCESS_KEY", "REGION", "SECRET_KEY"]


@pytest.fixture
def s3_settings(s3_endpoint: str, tmp_path):  # type: ignore[no-untyped-def]
    """Settings naming a fresh bucket (and a prefix) on the moto server."""
    from server.config import Settings

    return Settings(
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        media_dir=tmp_path / "media",
        **s3_fields(s3_endpoint),
    )


def s3_fields(endpoint: str) -> dict[str, object]:
    """Settings fields naming a fresh bucket on ``endpoint`` (typed values: ``model_copy``
    does not validate)."""
    import uuid

    from pydantic import SecretStr

    bucket = f"backtal-{uuid.uuid4().hex[:12]}"
    return {
        "storage_url": f"s3://{bucket}/studio/media",
        "s3_endpoint_url": endpoint,
        "s3_region": REGION,
        "s3_access_key_id": ACCESS_KEY,
        "s3_secret_access_key": SecretStr(SECRET_KEY),
        "s3_addressing_style": "path",
        "s3_part_size_mib": 5,
    }


def s3_env(settings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The ``BACKTAL_`` environment naming ``settings``' S3 storage, for a CLI or worker
    subprocess (or ``monkeypatch.setenv``)."""
    return {
        "BACKTAL_STORAGE_URL": settings.storage_url,
        "BACKTAL_S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "BACKTAL_S3_REGION": settings.s3_region,
        "BACKTAL_S3_ACCESS_KEY_ID": settings.s3_access_key_id,
        "BACKTAL_S3_SECRET_ACCESS_KEY": settings.s3_secret_access_key.get_secret_value(),
        "BACKTAL_S3_ADDRESSING_STYLE": settings.s3_addressing_style,
    }


@pytest.fixture
def s3_storage(s3_settings):  # type: ignore[no-untyped-def]
    from server.storage import open_storage

    storage = open_storage(s3_settings)
    storage.ensure_bucket()
    return storage
