"""Pure parts of storage serving and the worker scratch folder, checked by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from server.storage.scratch import WorkerScratch
from server.storage.serve import RangeNotSatisfiable, parse_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 100, None),
        ("", 100, None),
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=10-", 100, (10, 99)),
        ("bytes=90-200", 100, (90, 99)),  # the end is clipped to the object
        ("bytes=-10", 100, (90, 99)),  # the last 10 bytes
        ("bytes=-500", 100, (0, 99)),  # a suffix longer than the object: all of it
        ("bytes = 5 - 6", 100, (5, 6)),
        ("bytes=0-0", 1, (0, 0)),
        ("bytes=9-3", 100, None),  # last < first: invalid, ignored (200)
        ("bytes=0-1,5-6", 100, None),  # several ranges: ignored (200)
        ("items=0-1", 100, None),  # another unit: ignored
        ("bytes=-", 100, None),
    ],
)
def test_parse_range(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=100-", 100), ("bytes=-0", 100), ("bytes=0-", 0)]
)
def test_parse_range_not_satisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


def test_scratch_folders_are_private_and_emptied_on_claim(tmp_path: Path) -> None:
    root = tmp_path / "scratch"
    first = WorkerScratch(root)
    second = WorkerScratch(root)  # a second worker on the same root gets its own folder
    assert first.path.name == "worker-0" and second.path.name == "worker-1"
    with first.job_dir("job7") as work:
        (work / "proxy.mp4").write_bytes(b"x")
        assert work.parent == first.path
    assert list(first.path.iterdir()) == []  # a job's folder goes when the job ends
    (second.path / "left-by-a-crash").mkdir()
    (second.path / "left-by-a-crash" / "original.mp4").write_bytes(b"y")
    second._lock.close()  # type: ignore[union-attr]  # the process "dies": the lock goes
    second._lock = None
    third = WorkerScratch(root)  # takes the free folder and empties it
    assert third.path.name == "worker-1" and third.cleaned == 1
    assert list(third.path.iterdir()) == []
    first.close()
    third.close()


def test_a_live_process_holds_its_scratch_folder(tmp_path: Path) -> None:
    """Another process cannot take (and empty) a folder whose worker is alive."""
    root = tmp_path / "scratch"
    mine = WorkerScratch(root)
    (mine.path / "in-use.bin").write_bytes(b"z")
    code = (
        "import sys; from server.storage.scratch import WorkerScratch; "
        f"s = WorkerScratch({str(root)!r}); print(s.path.name)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "worker-1"
    assert (mine.path / "in-use.bin").exists()
    mine.close()
    assert not (mine.path / "in-use.bin").exists()
