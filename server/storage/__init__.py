"""Storage backends behind one small interface (``server.storage.base.Storage``).

>>> storage = open_storage(settings)      # BACKTAL_STORAGE_URL: '' | file:///dir | s3://b/p
>>> storage.put_file("features/12/x.npy", "/tmp/x.npy")   # published only when complete
>>> storage.get_to_path("features/12/x.npy", scratch / "x.npy")

See docs/storage.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server.config import Settings
from server.storage.base import (
    ObjectInfo,
    ObjectNotFound,
    Storage,
    StorageError,
    StorageUnavailable,
    check_key,
)
from server.storage.local import LocalStorage

__all__ = [
    "LocalStorage",
    "ObjectInfo",
    "ObjectNotFound",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "check_key",
    "open_storage",
    "s3_client",
]


def s3_client(settings: Settings) -> Any:
    """A boto3 S3 client from the settings; what they leave out comes from the standard AWS
    variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
    ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL_S3``, profiles)."""
    import boto3
    from botocore.config import Config

    secret = settings.s3_secret_access_key
    session = boto3.session.Session(
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret is not None else None,
        region_name=settings.s3_region,
    )
    config = Config(
        s3={"addressing_style": settings.s3_addressing_style},
        retries={"max_attempts": settings.s3_max_attempts, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
        signature_version="s3v4",
    )
    return session.client("s3", endpoint_url=settings.s3_endpoint_url or None, config=config)


def open_storage(settings: Settings) -> Storage:
    """The backend ``settings.storage_url`` names (empty: the media folder, as always)."""
    url = settings.storage_url.strip()
    if not url:
        return LocalStorage(settings.media_dir)
    if url.startswith("file://"):
        path = Path(url[len("file://") :])
        if not path.is_absolute():
            raise ValueError(f"BACKTAL_STORAGE_URL file:// needs an absolute path, got {url!r}")
        return LocalStorage(path)
    if url.startswith("s3://"):
        from server.storage.s3 import S3Storage, parse_s3_url

        bucket, prefix = parse_s3_url(url)
        return S3Storage(
            s3_client(settings), bucket, prefix, part_size=settings.s3_part_size_mib * 1024 * 1024
        )
    raise ValueError(
        f"BACKTAL_STORAGE_URL must be empty, file:///dir or s3://bucket/prefix: {url!r}"
    )
