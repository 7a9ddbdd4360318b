"""Assignments and review in Chromium: an admin assigns a video on the admin page; the
annotator works on it, submits it with Ctrl+Enter (then it is read-only to her) and N claims
the next video from the queue; a reviewer sees the work with click QA's flag, returns it with
a comment, keyboard only; the annotator sees the comment on the video and in the list, works
again and resubmits; the reviewer approves; the admin's progress table counts it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.annotator_ui.helpers import ROOT, poll, seek, wait_annotate_ready
from tests.conftest import make_user
from tests.server.helpers import upload
from tests.server.suggestions.seed import add_version

pytestmark = pytest.mark.browser

REVIEW = "document.getElementById('reviewing').dataset"
SECTION = "document.getElementById('assignments').dataset"


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"assignment_queue": True})


def assignment(client: Any, admin: Any, video_id: int) -> dict[str, Any]:
    items = client.get(
        "/api/v1/assignments", headers=admin.h, params={"video_id": video_id}
    ).json()["items"]
    assert len(items) == 1, items
    return dict(items[0])


def test_assign_work_submit_next_review_return_resubmit_approve(
    client, app, admin, alice, clip_bytes, clip2_bytes, open_page, screenshot_dir: Path
):
    rita = make_user(app, "rita", "reviewer")
    bounce = client.post("/api/v1/classes", headers=admin.h, json={"name": "Bounce"}).json()
    v1 = upload(client, admin, clip_bytes, "one.mp4").json()["id"]
    v2 = upload(client, admin, clip2_bytes, "two.mp4").json()["id"]
    # the active version is confident of Bounce over [0.5, 2.0] s of v1: a background click
    # there is flagged by click QA
    add_version(app, active=True, segments=[(v1, bounce["id"], 0.5, 2.0, 0.9)])

    # --- the admin assigns v1 to alice on the admin page (keyboard: ids, Enter)
    page = open_page(admin, "/admin")
    page.wait_for_function(f"() => {SECTION}.loaded === '1'")
    assert page.get_by_label("alice (annotator)").is_checked()
    assert not page.get_by_label("rita (reviewer)").is_checked()
    page.get_by_label("Videos").select_option("ids")
    amount = page.get_by_label("How many, which share, or which ids")
    amount.fill(str(v1))
    amount.press("Enter")
    page.wait_for_function(f"() => {SECTION}.listed === '1'")
    assert "1 assignment made" in page.locator("#assignments-status").inner_text()
    row = page.locator(f"#progress-table tr[data-annotator-id='{alice.id}']")
    assert row.locator("td[data-state='new']").inner_text() == "1"
    assert assignment(client, admin, v1)["state"] == "new"

    # --- alice works on v1: the bar follows; Ctrl+Enter submits; then it is read-only
    page = open_page(alice, f"/videos/{v1}")
    wait_annotate_ready(page)
    page.wait_for_function(f"() => {ROOT}.assignment === 'new'")
    seek(page, 1.0)
    page.keyboard.press("b")
    page.wait_for_function(f"() => {ROOT}.assignment === 'in_progress'")
    page.get_by_label("Note for the reviewer").fill("one bounce, I think")
    page.get_by_label("Note for the reviewer").press("Control+Enter")
    page.wait_for_function(f"() => {ROOT}.assignment === 'submitted'")
    assert "read-only" in page.locator("#assignment-text").inner_text()
    seek(page, 3.0)
    page.keyboard.press("b")
    poll(lambda: "submitted for review" in page.locator("#status").inner_text(), page=page)
    clicks = client.get(f"/api/v1/videos/{v1}/clicks", headers=alice.h).json()
    assert [round(c["t_s"], 1) for c in clicks] == [1.0]

    # --- N: nothing else is assigned to alice, the queue is open: v2 is claimed
    page.keyboard.press("n")
    page.wait_for_url(f"**/videos/{v2}")
    page.wait_for_function(f"() => {ROOT}.assignment === 'in_progress'")
    claimed = assignment(client, admin, v2)
    assert (claimed["annotator_id"], claimed["state"]) == (alice.id, "in_progress")

    # --- rita reviews: the flagged click is shown; a return needs a comment
    page = open_page(rita, "/review")
    page.wait_for_function(f"() => {REVIEW}.loaded === '1' && {REVIEW}.items === '1'")
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => {REVIEW}.open !== undefined && {REVIEW}.open !== ''")
    assert page.evaluate(f"{REVIEW}.flags") == "1"
    flagged = page.locator("#work-clicks li[data-flagged='1']")
    assert "inside predicted Bounce" in flagged.inner_text()
    assert "one bounce, I think" in page.locator("#work-caption").inner_text()
    page.keyboard.press("r")
    poll(lambda: "needs a comment" in page.locator("#reviewing-status").inner_text(), page=page)
    assert page.evaluate("document.activeElement.id") == "verdict-comment"
    page.keyboard.type("The click at 1 s is inside the bounce: move it before 0.5 s.")
    page.keyboard.press("Escape")
    page.screenshot(path=str(screenshot_dir / "review-work.png"), full_page=True)
    page.keyboard.press("r")
    page.wait_for_function(f"() => ({REVIEW}.verdict || '').endsWith(':returned')")
    back = assignment(client, admin, v1)
    assert (back["state"], back["reviewer_name"]) == ("returned", "rita")

    # --- alice sees the comment in the list and on the video, works again, resubmits
    page = open_page(alice, "/videos")
    cell = page.locator(f"tr[data-video-id='{v1}'] td[data-col='assignment']")
    assert cell.get_attribute("data-state") == "returned"
    assert "move it before 0.5 s" in cell.inner_text()
    assert page.locator("#next-assigned").get_attribute("href") == f"/videos/{v1}"
    page = open_page(alice, f"/videos/{v1}")
    wait_annotate_ready(page)
    page.wait_for_function(f"() => {ROOT}.assignment === 'returned'")
    comment = page.locator("#assignment-comment")
    assert "move it before 0.5 s" in comment.inner_text() and "rita" in comment.inner_text()
    page.locator("#annotate").screenshot(path=str(screenshot_dir / "annotate-returned.png"))
    seek(page, 0.2)
    page.keyboard.press("b")
    page.wait_for_function(f"() => {ROOT}.assignment === 'in_progress'")
    page.keyboard.press("Control+Enter")
    page.wait_for_function(f"() => {ROOT}.assignment === 'submitted'")

    # --- rita approves (Y); the admin's progress table counts it
    page = open_page(rita, f"/review?assignment={back['id']}")
    page.wait_for_function(f"() => {REVIEW}.open === '{back['id']}'")
    page.keyboard.press("y")
    page.wait_for_function(f"() => ({REVIEW}.verdict || '').endsWith(':approved')")
    assert assignment(client, admin, v1)["state"] == "approved"
    page = open_page(admin, "/admin")
    page.wait_for_function(f"() => {SECTION}.loaded === '1'")
    row = page.locator(f"#progress-table tr[data-annotator-id='{alice.id}']")
    assert row.locator("td[data-state='approved']").inner_text() == "1"
    assert row.locator("td[data-state='in_progress']").inner_text() == "1"
    # a number lists them
    row.locator("td[data-state='approved'] button").click()
    page.wait_for_function(f"() => {SECTION}.listed === '1'")
    assert page.locator("#assignments-table tbody tr").get_attribute("data-state") == "approved"
    page.locator("#assignments").screenshot(path=str(screenshot_dir / "admin-assignments.png"))


def test_annotators_cannot_open_the_review_page(client, alice, open_page):  # type: ignore[no-untyped-def]
    page = open_page(alice, "/review")
    assert "Reviewers only" in page.locator("main").inner_text()
