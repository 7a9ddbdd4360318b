"""The local-folder backend: key ``a/b.npy`` is the file ``ROOT/a/b.npy``.

Puts write a tagged hidden temporary file next to the target
(``server.housekeeping.tempfiles.temp_path``: a dead writer's leftover is swept by the next
worker), fsync it and ``os.replace`` it into place — the same rule the media folder has
always had. Hidden names (``.trash/``, temporary files) are never listed.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from server.housekeeping.tempfiles import temp_path
from server.storage.base import CHUNK, ObjectInfo, ObjectNotFound, Storage, check_key


class LocalStorage(Storage):
    kind = "local"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def local_path(self, key: str) -> Path | None:
        return self.path(key)

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(target, ".part")
        size = 0
        try:
            with open(tmp, "xb") as fh:
                for block in chunks:
                    fh.write(block)
                    size += len(block)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return size

    def put_file(self, key: str, path: str | Path, *, move: bool = False) -> int:
        target = self.path(key)
        if Path(path).resolve() == target:
            return target.stat().st_size  # already in place
        if move:  # a rename when on the same filesystem (complete at once), else a copy
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                size = Path(path).stat().st_size
                os.replace(path, target)
                return size
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
        return super().put_file(key, path)

    def get_to_path(self, key: str, dest: str | Path) -> Path:
        src = self.path(key)
        if not src.is_file():
            raise ObjectNotFound(f"no object {key!r} in {self.root}")
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(dest, ".part")
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest

    def read_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        path = self.path(key)
        try:
            fh = open(path, "rb")  # noqa: SIM115 (closed by the generator)
        except FileNotFoundError:
            raise ObjectNotFound(f"no object {key!r} in {self.root}") from None
        return self._chunks(fh, start, end)

    @staticmethod
    def _chunks(fh: BinaryIO, start: int, end: int | None) -> Iterator[bytes]:
        with fh:
            fh.seek(start)
            left = None if end is None else max(0, end - start)
            while left is None or left > 0:
                block = fh.read(CHUNK if left is None else min(CHUNK, left))
                if not block:
                    return
                if left is not None:
                    left -= len(block)
                yield block

    def presigned_url(self, key: str, expires_s: int = 3600) -> str | None:
        check_key(key)
        return None

    def stat(self, key: str) -> ObjectInfo | None:
        path = self.path(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        return ObjectInfo(key, st.st_size) if path.is_file() else None

    def delete(self, key: str) -> bool:
        path = self.path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        if not self.root.is_dir():
            return iter(())
        found = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                if name.startswith("."):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    try:
                        size = (Path(dirpath) / name).stat().st_size
                    except FileNotFoundError:  # deleted meanwhile
                        continue
                    found.append(ObjectInfo(key, size))
        return iter(sorted(found, key=lambda o: o.key))
