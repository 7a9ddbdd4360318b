"""The S3-compatible backend (AWS S3, MinIO, ...): key ``a/b.npy`` is the object
``PREFIX/a/b.npy`` in ``BUCKET``. Client library: boto3 (the AWS SDK; pinned in
pyproject.toml).

Publishing: an object smaller than one part goes up in a single ``PutObject`` (S3 makes a
PUT visible only once it is complete); a larger one as a multipart upload, which S3 shows
under its key only after ``CompleteMultipartUpload`` — a failure in between aborts the
upload, so no partial object ever exists under the key, and the previous object stays
readable until the new one replaces it. Parts are ``part_size`` bytes (S3's minimum for all
but the last part is 5 MiB); one part is in memory at a time.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from server.housekeeping.tempfiles import temp_path
from server.storage.base import (
    CHUNK,
    ObjectInfo,
    ObjectNotFound,
    Storage,
    StorageError,
    StorageUnavailable,
    check_key,
)

MIN_PART = 5 * 1024 * 1024
# S3 error codes that mean "the service failed", not "your request is wrong"
_SERVICE_CODES = {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"}


def _unavailable(exc: BaseException, where: str) -> StorageUnavailable | None:
    """``exc`` as :class:`StorageUnavailable` when it says the service is down or failing
    (no connection, a timeout, a 5xx answer), else None (a 404, a refused request...)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:  # a connection dropped while a body is read comes from urllib3
        from urllib3.exceptions import HTTPError as Urllib3Error
    except ImportError:  # pragma: no cover
        Urllib3Error = ()  # type: ignore[assignment,misc]
    if isinstance(exc, ClientError):
        meta = exc.response.get("ResponseMetadata", {})
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if int(meta.get("HTTPStatusCode", 0) or 0) >= 500 or code in _SERVICE_CODES:
            return StorageUnavailable(f"object storage failed ({where}): {code or exc}")
        return None
    if isinstance(exc, (BotoCoreError, Urllib3Error, ConnectionError, TimeoutError)):
        return StorageUnavailable(f"object storage is unreachable ({where}): {exc}")
    return None


class _Guarded:
    """The boto3 client, with service failures raised as :class:`StorageUnavailable`."""

    def __init__(self, client: Any, where: str) -> None:
        self._client = client
        self._where = where

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr) or name in ("get_paginator", "generate_presigned_url"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attr(*args, **kwargs)
            except Exception as exc:
                translated = _unavailable(exc, self._where)
                if translated is not None:
                    raise translated from exc
                raise

        return call


@contextlib.contextmanager
def _guard(where: str) -> Iterator[None]:
    try:
        yield
    except StorageError:
        raise
    except Exception as exc:
        translated = _unavailable(exc, where)
        if translated is not None:
            raise translated from exc
        raise


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → (``bucket``, ``some/prefix``); the prefix may be empty."""
    if not url.startswith("s3://"):
        raise ValueError(f"not an s3:// URL: {url!r}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"the s3:// URL names no bucket: {url!r}")
    prefix = prefix.strip("/")
    if prefix:
        check_key(prefix)
    return bucket, prefix


def _is_missing(exc: Exception) -> bool:
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


class S3Storage(Storage):
    kind = "s3"

    def __init__(
        self, client: Any, bucket: str, prefix: str = "", part_size: int = 8 * 1024 * 1024
    ) -> None:
        if part_size < MIN_PART:
            raise ValueError(f"part_size must be at least 5 MiB, got {part_size}")
        self.raw_client = client
        self.client = _Guarded(client, f"s3://{bucket}")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.part_size = part_size

    def __repr__(self) -> str:
        return f"S3Storage('s3://{self.bucket}/{self.prefix}')"

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def object_name(self, key: str) -> str:
        """The bucket's object name of ``key`` (the storage prefix + ``key``)."""
        return self._name(key)

    def _key(self, name: str) -> str:
        return name[len(self.prefix) + 1 :] if self.prefix else name

    # ------------------------------------------------------------------ writing
    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int:
        name = self._name(key)
        buf = bytearray()
        size = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            for block in chunks:
                buf += block
                size += len(block)
                while len(buf) >= self.part_size:
                    if upload_id is None:
                        upload_id = self.client.create_multipart_upload(
                            Bucket=self.bucket, Key=name
                        )["UploadId"]
                    part, buf = bytes(buf[: self.part_size]), buf[self.part_size :]
                    parts.append(self._upload_part(name, upload_id, len(parts) + 1, part))
            if upload_id is None:
                self.client.put_object(Bucket=self.bucket, Key=name, Body=bytes(buf))
                return size
            if buf or not parts:
                parts.append(self._upload_part(name, upload_id, len(parts) + 1, bytes(buf)))
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=name,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
            upload_id = None
            return size
        finally:
            if upload_id is not None:  # failed before completing: nothing is published
                # the original error matters more; a lost abort is left to a lifecycle rule
                with contextlib.suppress(Exception):
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=name, UploadId=upload_id
                    )

    def _upload_part(self, name: str, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        r = self.client.upload_part(
            Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=data
        )
        return {"PartNumber": number, "ETag": r["ETag"]}

    # ------------------------------------------------------------------ reading
    def _get(self, key: str, **kwargs: Any) -> Any:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._name(key), **kwargs)
        except Exception as exc:
            if _is_missing(exc):
                raise ObjectNotFound(f"no object {key!r} in {self!r}") from None
            raise

    def get_to_path(self, key: str, dest: str | Path) -> Path:
        body = self._get(key)["Body"]
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(dest, ".part")
        try:
            with open(tmp, "xb") as fh, _guard(f"reading {key}"):
                for block in body.iter_chunks(CHUNK):
                    fh.write(block)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        finally:
            body.close()
        return dest

    def read_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"bad range [{start}, {end})")
        if end is not None and end == start:
            return iter(())
        if start == 0 and end is None:
            body = self._get(key)["Body"]
        else:
            last = "" if end is None else str(end - 1)
            try:
                body = self._get(key, Range=f"bytes={start}-{last}")["Body"]
            except Exception as exc:
                code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
                if code == "InvalidRange":  # start at or past the end: nothing there
                    return iter(())
                raise
        return self._chunks(body)

    @staticmethod
    def _chunks(body: Any) -> Iterator[bytes]:
        try:
            with _guard("reading an object"):
                yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    def presigned_url(self, key: str, expires_s: int = 3600) -> str | None:
        url: str = self.raw_client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._name(key)},
            ExpiresIn=int(expires_s),
        )
        return url

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except Exception as exc:
            if _is_missing(exc):
                return None
            raise
        return ObjectInfo(key, int(head["ContentLength"]))

    # ------------------------------------------------------------------ the rest
    def delete(self, key: str) -> bool:
        if not self.exists(key):
            return False
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
        return True

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        if not prefix:
            full = f"{self.prefix}/" if self.prefix else ""
        else:  # "dir/" is a fine prefix though not a key: check it without its slash
            full = self._name(prefix.rstrip("/")) + ("/" if prefix.endswith("/") else "")
        paginator = self.raw_client.get_paginator("list_objects_v2")
        pages = iter(paginator.paginate(Bucket=self.bucket, Prefix=full))
        while True:
            with _guard(f"listing {prefix!r}"):
                page = next(pages, None)
            if page is None:
                return
            for obj in page.get("Contents", []):
                yield ObjectInfo(self._key(obj["Key"]), int(obj["Size"]))

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (tests, a fresh MinIO)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            if not _is_missing(exc) and "NoSuchBucket" not in str(exc):
                raise StorageError(f"cannot reach bucket {self.bucket!r}: {exc}") from exc
            region = self.client.meta.region_name
            if region and region != "us-east-1":
                self.client.create_bucket(
                    Bucket=self.bucket,
                    CreateBucketConfiguration={"LocationConstraint": region},
                )
            else:
                self.client.create_bucket(Bucket=self.bucket)
