"""Must-show 3: the admin page's Retrain button starts a job whose progress bar advances to
completion in the page; annotators get a 403 and no link.

``test_retrain_progress_with_stubbed_jobs_api`` serves the training API by route
interception (a job that advances one epoch per poll and can be held at an epoch).
``test_retrain_end_to_end`` runs the real endpoints and worker, holds the training at epoch
2 of 4 and reads the bar there. Both read the bar while the job is running, not only at
its end.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.server.helpers import upload

pytestmark = pytest.mark.browser

ADMIN = "document.getElementById('admin').dataset"


def test_annotator_gets_403_and_no_admin_link(alice, open_page):
    page = open_page(alice, "/videos")
    assert page.locator("nav a[href='/admin']").count() == 0
    response = page.goto("/admin")
    assert response is not None and response.status == 403
    assert page.locator("h1").inner_text() == "Admins only"
    assert page.locator("#retrain").count() == 0


def test_sign_in_form_and_sign_out(admin, open_page):
    page = open_page(None, "/admin")
    assert "/?next=" in page.url
    page.get_by_label("Access token").fill("bts_wrong")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().startswith("That token is not valid")
    page.get_by_label("Access token").fill(admin.token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin")
    cookie = next(c for c in page.context.cookies() if c["name"] == "backtal_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] == -1
    assert page.evaluate("document.cookie") == ""  # not readable from scripts
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/$"))
    assert not [c for c in page.context.cookies() if c["name"] == "backtal_session"]


class FakeTrainingApi:
    """A training job that advances one epoch every time the page polls it."""

    def __init__(self, epochs: int, hold_at: int | None = None) -> None:
        self.epochs = epochs
        self.hold_at = hold_at  # stop advancing at this epoch until release()
        self.job: dict[str, Any] | None = None
        self.posted: list[Any] = []
        self.polls = 0
        self.progress_seen: list[float] = []

    def _job_json(self) -> dict[str, Any]:
        assert self.job is not None
        return self.job

    def _advance(self) -> None:
        job = self.job
        assert job is not None
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return
        if job["status"] == "running" and self.polls == self.hold_at:
            return
        self.polls += 1
        epoch = min(self.polls, self.epochs)
        history = [
            {
                "epoch": e,
                "losses": {
                    "total": round(1.8 / e, 4),
                    "video_cls": round(0.9 / e, 4),
                    "bg_click": round(0.5 / e**0.5, 4),
                },
                "val": {"mAP@0.5": round(0.08 * e, 4)},
            }
            for e in range(1, epoch + 1)
        ]
        lines = [
            f"epoch {h['epoch']}: total {h['losses']['total']:.4f}"
            f" mAP@0.5 {h['val']['mAP@0.5']:.3f}"
            for h in history
        ]
        job.update(
            status="running",
            progress=round(epoch / self.epochs, 4),
            message=f"epoch {epoch}/{self.epochs}",
            log_tail="loading 6 videos, 42 clicks\n" + "\n".join(lines),
            metrics={"history": history},
            started_at="2026-11-27T08:00:01Z",
        )
        if self.polls > self.epochs:
            job.update(
                status="succeeded",
                progress=1.0,
                message="done: model version 7",
                model_version_id=7,
                finished_at="2026-11-27T08:00:09Z",
            )

    def versions(self) -> list[dict[str, Any]]:
        done = self.job is not None and self.job["status"] == "succeeded"
        base = [
            {
                "id": 6,
                "supervision": "weak",
                "metrics": {"mAP@0.5": 0.121, "mAP@0.3:0.7": 0.1},
                "data_summary": {"videos": 6, "clicks": 0, "annotators": 0},
                "is_active": not done,
                "created_at": "2026-11-26T17:12:00Z",
                "job_id": None,
            }
        ]
        if done:
            assert self.job is not None
            base.append(
                {
                    "id": 7,
                    "supervision": "bg-click",
                    "metrics": {
                        "mAP@0.5": 0.32,
                        "mAP@0.3:0.7": 0.27,
                        "history": self.job["metrics"]["history"],
                    },
                    "data_summary": {"videos": 6, "clicks": 42, "annotators": 2},
                    "is_active": True,
                    "created_at": "2026-11-27T08:00:09Z",
                    "job_id": self.job["id"],
                }
            )
        return base

    def handle(self, route: Any) -> None:
        req = route.request
        path = req.url.split("/api/v1", 1)[1]
        reply = lambda body, status=200: route.fulfill(  # noqa: E731
            status=status, content_type="application/json", body=json.dumps(body)
        )
        if req.method == "POST" and path.startswith("/training-jobs"):
            self.posted.append(req.post_data_json)
            self.job = {
                "id": 12,
                "kind": "train",
                "status": "queued",
                "progress": 0.0,
                "message": "queued",
                "log_tail": "",
                "metrics": None,
                "error": None,
                "attempts": 0,
                "created_at": "2026-11-27T08:00:00Z",
                "started_at": None,
                "finished_at": None,
                "model_version_id": None,
            }
            return reply(self.job, 202)
        if req.method == "GET" and re.match(r"^/jobs/\d+$", path):
            self._advance()
            self.progress_seen.append(self._job_json()["progress"])
            return reply(self._job_json())
        if req.method == "GET" and path.startswith("/jobs"):
            return reply([self.job] if self.job else [])
        if req.method == "GET" and path.startswith("/model-versions"):
            return reply(self.versions())
        return route.fallback()


def test_retrain_progress_with_stubbed_jobs_api(
    client, admin, alice, clip_bytes, open_page, screenshot_dir: Path
):
    """Must-show 3 (page side) + must-show 5 (admin screenshot)."""
    for name in ("Bounce", "Spin"):
        client.post("/api/v1/classes", json={"name": name}, headers=admin.h)
    upload(client, admin, clip_bytes)
    fake = FakeTrainingApi(epochs=4, hold_at=2)
    page = open_page(None, "/")
    page.route(re.compile(r".*/api/v1/(jobs|training-jobs|model-versions)([/?].*)?$"), fake.handle)
    page.context.add_cookies([{"name": "backtal_session", "value": admin.token, "url": page.url}])
    page.goto("/admin")
    page.wait_for_function(f"() => {ADMIN}.loaded === '1'")
    assert page.locator("#versions-table tbody tr").count() == 1
    assert page.locator("#users-table tbody tr").count() == 2  # admin, alice

    page.get_by_label("Supervision").select_option("bg-click")
    page.get_by_label("Epochs", exact=True).fill("4")
    page.get_by_role("button", name="Retrain").click()
    page.wait_for_function(f"() => {ADMIN}.jobStatus === 'running'")
    assert page.get_by_role("button", name="Retrain").is_disabled()
    # held at epoch 2 of 4: the bar shows the job's own value, half way
    page.wait_for_function(f"() => {ADMIN}.jobProgress === '0.5'")
    page.wait_for_timeout(1500)  # more polls of the held job: the bar stays there
    assert page.locator("#job-progress").evaluate("p => p.value") == 0.5
    assert page.locator("#job-percent").inner_text() == "50 %"
    assert "epoch 2 / 4" in page.locator("#job-text").inner_text()
    assert page.locator("#curves").get_attribute("data-points") == "2"
    fake.hold_at = None
    page.wait_for_function(f"() => {ADMIN}.jobStatus === 'succeeded'", timeout=20_000)

    assert fake.posted == [{"supervision": "bg-click", "recipe": "studio", "epochs": 4}]
    assert fake.progress_seen == sorted(fake.progress_seen) and fake.progress_seen[-1] == 1.0
    assert len(set(fake.progress_seen)) >= 4  # the bar moved through the epochs
    assert page.locator("#job-progress").evaluate("p => p.value") == 1
    assert page.locator("#job-percent").inner_text() == "100 %"
    text = page.locator("#job-text").inner_text()
    assert "succeeded" in text and "epoch 4 / 4" in text and "model version 7" in text
    assert "epoch 4: total" in page.locator("#job-log").inner_text()
    assert page.locator("#curves").get_attribute("data-points") == "4"
    assert page.locator("#curves-table tbody tr").count() == 4
    page.locator("#versions-table tr[data-version-id='7']").wait_for()
    assert "active" in page.locator("#versions-table tr[data-version-id='7']").inner_text()
    assert page.get_by_role("button", name="Retrain").is_enabled()
    page.screenshot(path=str(screenshot_dir / "admin-stubbed-job.png"), full_page=True)
    assert not page.js_errors


def _start_worker(app: Any) -> Any:
    """The server's worker in a thread; returns its stop function."""
    from server.worker.loop import Worker

    worker = Worker(app.state.settings)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()

    def stop() -> None:
        worker.stop_event.set()
        thread.join(timeout=60)
        worker.close()

    return stop


def test_retrain_end_to_end(
    app, client, admin, alice, clip_bytes, clip2_bytes, open_page, screenshot_dir: Path, monkeypatch
):
    """Must-show 3 against the real API and worker (small config). The worker's training
    is held after epoch 2 of 4 (a gate around ``model.train.fit``'s progress callback) so
    the page's bar is read at the job's intermediate value."""
    import model.train

    assert client.get("/api/v1/jobs", headers=admin.h).status_code == 200
    assert client.post("/api/v1/training-jobs", json={}, headers=alice.h).status_code == 403
    for name in ("Bounce", "Spin"):
        client.post("/api/v1/classes", json={"name": name}, headers=admin.h)
    real_fit = model.train.fit
    held, release = threading.Event(), threading.Event()

    def gated_fit(*args: Any, on_progress: Any, **kwargs: Any) -> Any:
        def report(info: dict[str, Any]) -> None:
            on_progress(info)
            if info["epoch"] == 2:
                held.set()
                release.wait(120)

        return real_fit(*args, on_progress=report, **kwargs)

    monkeypatch.setattr(model.train, "fit", gated_fit)
    stop = _start_worker(app)
    try:
        videos = [upload(client, admin, b).json() for b in (clip_bytes, clip2_bytes)]
        classes = client.get("/api/v1/classes", headers=admin.h).json()
        for v, cls in zip(videos, classes, strict=True):
            client.put(
                f"/api/v1/videos/{v['id']}/labels", json={"class_ids": [cls["id"]]}, headers=alice.h
            )
            client.post(f"/api/v1/videos/{v['id']}/clicks", json={"t_s": 0.2}, headers=alice.h)
        deadline = time.monotonic() + 120  # the worker makes proxies and features first
        while any(
            client.get(f"/api/v1/videos/{v['id']}", headers=admin.h).json()["status"] != "ready"
            for v in videos
        ):
            assert time.monotonic() < deadline, "videos never became ready"
            time.sleep(0.2)
        page = open_page(admin, "/admin")
        page.wait_for_function(f"() => {ADMIN}.loaded === '1'")
        page.get_by_label("Epochs", exact=True).fill("4")
        page.get_by_label("Hidden size").fill("16")
        page.get_by_label("Recipe").select_option("published")
        page.get_by_role("button", name="Retrain").click()
        page.wait_for_function(f"() => {ADMIN}.jobStatus !== undefined")
        assert held.wait(120), "the training never reached epoch 2"
        # the worker reports 0.9 · epoch / epochs while training: 0.45 at epoch 2 of 4
        page.wait_for_function(f"() => {ADMIN}.jobProgress === '0.45'", timeout=20_000)
        assert page.evaluate(f"() => {ADMIN}.jobStatus") == "running"
        assert page.locator("#job-progress").evaluate("p => p.value") == 0.45
        assert page.locator("#job-percent").inner_text() == "45 %"
        assert "epoch 2 / 4" in page.locator("#job-text").inner_text()
        release.set()
        seen: list[float] = [0.45]
        for _ in range(600):
            status = page.evaluate(f"() => {ADMIN}.jobStatus")
            seen.append(float(page.evaluate(f"() => {ADMIN}.jobProgress")))
            if status in ("succeeded", "failed", "cancelled"):
                break
            page.wait_for_timeout(250)
        assert status == "succeeded", page.locator("#job-error").inner_text()
        assert page.locator("#job-progress").evaluate("p => p.value") == 1
        assert seen == sorted(seen)
        page.locator("#versions-table tbody tr[data-version-id]").first.wait_for()
        (version,) = client.get("/api/v1/model-versions", headers=admin.h).json()
        assert version["config"]["recipe"]["name"] == "published"  # the form's recipe
        assert "published" in page.locator("#versions-table tbody").inner_text()
        page.screenshot(path=str(screenshot_dir / "admin.png"), full_page=True)
    finally:
        release.set()
        stop()
