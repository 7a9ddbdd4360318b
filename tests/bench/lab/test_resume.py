"""bench.lab.resume: stored results resume only under the same key, are written atomically,
and run_pending runs a chain of specs in order until nothing is ready."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.lab.resume import minute_log, run_pending, stored_payload, write_json


def test_stored_results_resume_only_under_the_same_key(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    logs: list[str] = []
    assert stored_payload(path, {"a": 1}, logs.append) is None  # nothing stored yet
    write_json(path, {"settings": {"a": 1, "b": [1, 2]}, "runs": [{"x": 1}, {"x": 2}]})
    assert stored_payload(path, {"a": 1}, logs.append) is None  # other settings: afresh
    old = stored_payload(path, {"b": [1, 2], "a": 1}, logs.append)  # key order is no matter
    assert old is not None and old["runs"] == [{"x": 1}, {"x": 2}]
    assert logs == [f"resuming: 2 trainings already in {path}"]


def test_write_json_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_json(path, {"runs": [1]})
    write_json(path, {"runs": [1, 2]})
    assert json.loads(path.read_text()) == {"runs": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_run_pending_follows_a_chain_until_nothing_is_ready() -> None:
    """Specs become ready as others finish (a guided round needs the previous one); each is
    described, run once with the task arguments, and handed to ``finished`` in order."""
    done: list[dict[str, Any]] = []
    logs: list[str] = []

    def pending(busy: set[Any]) -> list[dict[str, Any]]:
        assert busy == set()  # one process: nothing is ever in flight when asked
        n = len(done)
        return [{"step": n}] if n < 3 else []

    def task(spec: dict[str, Any], factor: int) -> dict[str, Any]:
        return {"step": spec["step"], "value": spec["step"] * factor}

    run_pending(pending, lambda s: s["step"], task, (10,), done.append, 1, logs.append, str)
    assert done == [{"step": 0, "value": 0}, {"step": 1, "value": 10}, {"step": 2, "value": 20}]
    assert logs == ["{'step': 0}: training", "{'step': 1}: training", "{'step': 2}: training"]


def test_minute_log_prefixes_the_minutes(capsys: pytest.CaptureFixture[str]) -> None:
    minute_log()("hello")
    assert capsys.readouterr().out == "[   0.0 min] hello\n"
