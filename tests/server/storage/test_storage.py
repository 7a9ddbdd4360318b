"""The storage interface: one contract, two backends (a local folder; S3 via a real S3 API
server — moto's, in a subprocess on loopback)."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from server.storage import LocalStorage, ObjectNotFound, Storage, check_key, open_storage
from server.storage.base import StorageError
from tests.s3server import SECRET_KEY
from tests.server.helpers import worker_once

MiB = 1024 * 1024


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "media")
    return request.getfixturevalue("s3_storage")


def payload(size: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def uneven_chunks(data: bytes, sizes=(1, 4096, 700_000, 3 * MiB + 17)):
    """Chunks of varying sizes (they straddle the 5 MiB part boundary)."""
    pos, k = 0, 0
    while pos < len(data):
        n = sizes[k % len(sizes)]
        yield data[pos : pos + n]
        pos, k = pos + n, k + 1


def leftovers(storage: Storage) -> list[str]:
    """Anything a failed put could have left: hidden temp files / unfinished uploads."""
    if isinstance(storage, LocalStorage):
        if not storage.root.exists():
            return []
        return sorted(str(p) for p in storage.root.rglob("*") if p.name.startswith("."))
    ups = storage.client.list_multipart_uploads(Bucket=storage.bucket)  # type: ignore[attr-defined]
    return [u["Key"] for u in ups.get("Uploads", [])]


def test_put_get_range_list_delete(storage: Storage, tmp_path: Path) -> None:
    assert storage.put_bytes("features/1/a.npy", b"0123456789") == 10
    storage.put_bytes("features/1/b.npy", b"x")
    storage.put_bytes("features/12/c.npy", b"yy")
    storage.put_bytes("proxies/1.mp4", b"zzz")
    assert storage.stat("features/1/a.npy").size == 10  # type: ignore[union-attr]
    assert storage.stat("features/1/nope.npy") is None and not storage.exists("nope")
    assert storage.read_bytes("features/1/a.npy") == b"0123456789"
    assert storage.read_bytes("features/1/a.npy", 2, 5) == b"234"
    assert storage.read_bytes("features/1/a.npy", 7) == b"789"
    assert storage.read_bytes("features/1/a.npy", 10) == b""
    assert storage.read_bytes("features/1/a.npy", 3, 3) == b""
    assert [(o.key, o.size) for o in storage.list("features/1/")] == [
        ("features/1/a.npy", 10),
        ("features/1/b.npy", 1),
    ]
    assert [o.key for o in storage.list("features/1")] == [
        "features/1/a.npy",
        "features/1/b.npy",
        "features/12/c.npy",
    ]
    assert len(list(storage.list())) == 4
    dest = tmp_path / "scratch" / "deep" / "a.npy"
    assert storage.get_to_path("features/1/a.npy", dest) == dest
    assert dest.read_bytes() == b"0123456789"
    storage.put_bytes("features/1/a.npy", b"new")  # replace
    assert storage.read_bytes("features/1/a.npy") == b"new"
    assert storage.delete("features/1/a.npy") is True
    assert storage.delete("features/1/a.npy") is False
    assert not storage.exists("features/1/a.npy")
    with pytest.raises(ObjectNotFound):
        storage.get_to_path("features/1/a.npy", tmp_path / "x")
    with pytest.raises(ObjectNotFound):
        storage.read_bytes("features/1/a.npy")
    assert not (tmp_path / "x").exists()
    assert leftovers(storage) == []


def test_streamed_put_of_several_parts(storage: Storage, tmp_path: Path) -> None:
    data = payload(11 * MiB + 123)  # three 5 MiB parts on S3, the last one short
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    assert storage.put_stream("originals/big.bin", uneven_chunks(data)) == len(data)
    assert storage.stat("originals/big.bin").size == len(data)  # type: ignore[union-attr]
    assert storage.read_bytes("originals/big.bin") == data
    assert (
        storage.read_bytes("originals/big.bin", 5 * MiB - 3, 5 * MiB + 3)
        == data[5 * MiB - 3 : 5 * MiB + 3]
    )
    assert storage.put_file("originals/copy.bin", src) == len(data)
    out = storage.get_to_path("originals/copy.bin", tmp_path / "back.bin")
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(data).digest()
    assert storage.put_stream("empty.bin", iter(())) == 0
    assert storage.read_bytes("empty.bin") == b"" and storage.stat("empty.bin").size == 0  # type: ignore[union-attr]
    assert leftovers(storage) == []


@pytest.mark.parametrize("size_before_failure", [100, 7 * MiB])
def test_a_failed_put_publishes_nothing_and_keeps_the_old_object(
    storage: Storage, size_before_failure: int
) -> None:
    storage.put_bytes("models/m.pt", b"the old checkpoint")
    seen_while_writing: list[object] = []

    def failing():  # type: ignore[no-untyped-def]
        yield from uneven_chunks(payload(size_before_failure))
        # mid-upload: readers still see the old object, list shows only it
        seen_while_writing.append(storage.read_bytes("models/m.pt"))
        seen_while_writing.append([o.key for o in storage.list("models/")])
        seen_while_writing.append(storage.exists("models/new.pt"))
        raise ConnectionError("the source went away")

    with pytest.raises(ConnectionError):
        storage.put_stream("models/m.pt", failing())
    with pytest.raises(ConnectionError):
        storage.put_stream("models/new.pt", failing())
    assert seen_while_writing[:3] == [b"the old checkpoint", ["models/m.pt"], False]
    assert storage.read_bytes("models/m.pt") == b"the old checkpoint"
    assert not storage.exists("models/new.pt")
    assert [o.key for o in storage.list()] == ["models/m.pt"]
    assert leftovers(storage) == []  # no temporary file, no unfinished multipart upload


def test_in_flight_upload_is_invisible_until_complete(storage: Storage) -> None:
    states = []

    def chunks():  # type: ignore[no-untyped-def]
        for k in range(3):
            yield payload(3 * MiB, seed=k)
            states.append((storage.exists("proxies/7.mp4"), len(list(storage.list()))))

    storage.put_stream("proxies/7.mp4", chunks())
    assert states == [(False, 0), (False, 0), (False, 0)]
    assert storage.stat("proxies/7.mp4").size == 9 * MiB  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "key", ["", "/abs", "../up", "a/../b", "a//b", "a/./b", "a\\b", "dir/", "nul\x00"]
)
def test_bad_keys_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(ValueError):
        check_key(key)
    with pytest.raises(ValueError):
        storage.put_bytes(key, b"x")
    with pytest.raises(ValueError):
        storage.stat(key)


def test_local_backend_is_the_media_folder(tmp_path: Path) -> None:
    from server.config import Settings

    s = Settings(database_url="sqlite://", media_dir=tmp_path / "media")
    storage = open_storage(s)
    assert isinstance(storage, LocalStorage) and storage.root == (tmp_path / "media").resolve()
    storage.put_bytes("features/3/f.npy", b"abc")
    assert (tmp_path / "media" / "features" / "3" / "f.npy").read_bytes() == b"abc"
    assert storage.local_path("features/3/f.npy") == storage.root / "features/3/f.npy"
    assert storage.presigned_url("features/3/f.npy") is None
    # hidden files (temporary files, .trash) are not objects
    (tmp_path / "media" / ".trash").mkdir()
    (tmp_path / "media" / ".trash" / "old.npy").write_bytes(b"x")
    (tmp_path / "media" / "features" / "3" / ".f.npy@h@1@ab@cd.part").write_bytes(b"x")
    assert [o.key for o in storage.list()] == ["features/3/f.npy"]
    other = open_storage(s.model_copy(update={"storage_url": f"file://{tmp_path / 'elsewhere'}"}))
    assert isinstance(other, LocalStorage) and other.root == (tmp_path / "elsewhere").resolve()
    for bad in ("file://relative/x", "ftp://host/x", "s3://", "s3:///prefix"):
        with pytest.raises(ValueError):
            open_storage(s.model_copy(update={"storage_url": bad}))


def test_s3_presigned_url_serves_ranges(s3_storage: Storage) -> None:
    data = payload(100_000)
    s3_storage.put_bytes("proxies/9.mp4", data)
    url = s3_storage.presigned_url("proxies/9.mp4", expires_s=60)
    assert url is not None and url.startswith("http://127.0.0.1:") and "Signature" in url
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200 and r.read() == data
    req = urllib.request.Request(url, headers={"Range": "bytes=1000-1999"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 206 and r.read() == data[1000:2000]
    # the URL is signed: without the signature the bucket is not readable
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url.split("?")[0], timeout=10)
    assert err.value.code == 403


def test_s3_objects_live_under_the_prefix(s3_storage) -> None:  # type: ignore[no-untyped-def]
    s3_storage.put_bytes("features/1/a.npy", b"a")
    raw = s3_storage.client.list_objects_v2(Bucket=s3_storage.bucket)
    assert [o["Key"] for o in raw["Contents"]] == ["studio/media/features/1/a.npy"]
    # an object beside the prefix is not ours
    s3_storage.client.put_object(Bucket=s3_storage.bucket, Key="studio/mediaX/f", Body=b"x")
    assert [o.key for o in s3_storage.list()] == ["features/1/a.npy"]


def test_s3_credentials_from_the_standard_aws_variables(s3_settings, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Settings without credentials or region: the client takes them from AWS_* variables
    (and from nowhere else here: no profile, no config file, no instance metadata)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    bare = s3_settings.model_copy(
        update={"s3_access_key_id": None, "s3_secret_access_key": None, "s3_region": None}
    )
    # no variables: no credentials at all, nothing is written
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(StorageError, match="Unable to locate credentials"):
        open_storage(bare).ensure_bucket()  # type: ignore[attr-defined]
    # the variables (a key and a region no setting names): requests are signed with them
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env-only-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    storage = open_storage(bare)
    storage.ensure_bucket()  # type: ignore[attr-defined]
    storage.put_bytes("k", b"v")
    assert storage.read_bytes("k") == b"v"
    url = storage.presigned_url("k", expires_s=60)
    assert url is not None
    (credential,) = parse_qs(urlsplit(url).query)["X-Amz-Credential"]
    key, _, region, service, _ = credential.split("/")
    assert (key, region, service) == ("env-only-access-key", "eu-west-3", "s3")


def test_api_and_worker_refuse_a_storage_url_that_names_no_backend(tmp_path: Path) -> None:
    """A typo in BACKTAL_STORAGE_URL must stop the API and the worker, not fall back to the
    local folder (files would land on a container's disk)."""

    from server.app import create_app
    from server.config import Settings

    media = tmp_path / "media"
    base = Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", media_dir=media)
    base.check_storage()  # default: fine
    base.model_copy(update={"storage_url": f"file://{base.media_dir}"}).check_storage()
    base.model_copy(update={"storage_url": "s3://bucket/prefix"}).check_storage()
    bad = base.model_copy(update={"storage_url": "gs://bucket/prefix"})
    with pytest.raises(ValueError, match="must be empty, file:///abs/folder or s3://"):
        create_app(bad)
    env = {
        **os.environ,
        "BACKTAL_DATABASE_URL": base.database_url,
        "BACKTAL_MEDIA_DIR": str(media),
        "BACKTAL_STORAGE_URL": "minio://bucket/prefix",
    }
    done = worker_once(env)
    assert done.returncode != 0 and "BACKTAL_STORAGE_URL" in done.stderr
