"""The performance benchmarks' commands still run (docs/performance.md, reliability.md,
storage.md, research/guided.md): each once at a tiny size, through ``main`` as ``python -m``
calls it. What they measure is read from their output by a person, not asserted here (speed
is a benchmark's business, not a test's); the train_speed memory probe and the load server
run as ``python -m`` subprocesses, which this exercises."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from bench import features, load, storage_throughput, suggestions_latency, train_speed

pytestmark = pytest.mark.slow


def _run(main: Callable[[], object], args: list[str], monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.setattr(sys, "argv", ["python -m bench", *args])
    return main()


def test_train_speed(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--batch", "1", "--T", "16", "--dim", "16", "--hidden", "16", "--classes", "2"]
    args += ["--steps", "1", "--warmup", "0", "--variants", "baseline,ours"]
    _run(train_speed.main, args, monkeypatch)
    out = capsys.readouterr().out
    assert "baseline / ours: time x" in out and ", peak memory x" in out  # the probe ran


def test_load_on_sqlite(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--annotators", "2", "--clicks", "5", "--db", "sqlite", "--rounds", "1"]
    assert _run(load.main, args, monkeypatch) in (0, 1)  # 1: the ratio goal missed, not a crash
    out = capsys.readouterr().out
    assert "acknowledged 10, deleted 0, lost 0, duplicated 0, errors 0" in out


def test_suggestions_latency(capsys: pytest.CaptureFixture[str]) -> None:
    assert suggestions_latency.main(["--requests", "5"]) == 0
    assert "suggestions / bare: median x" in capsys.readouterr().out


def test_features(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _run(features.main, ["--seconds", "1"], monkeypatch)
    out = capsys.readouterr().out
    assert out.count("x real time") == 4 and "features effnet-lite0+dis-flow 320x240" in out


def test_storage_throughput(capsys: pytest.CaptureFixture[str]) -> None:
    assert storage_throughput.main(["--uploads", "1", "--reads", "2", "--mib", "1"]) == 0
    assert "| media job per video (s) |" in capsys.readouterr().out
