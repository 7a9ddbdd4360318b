"""Schema fuzzing with schemathesis over the whole OpenAPI, as admin and as annotator.

Every operation gets ``BACKTAL_FUZZ_EXAMPLES`` generated cases (default 6: the bounded CI
run) in positive and negative generation modes; half the cases have their path ids replaced
by ids of rows that exist, so the handlers run past the 404. Checks: no 5xx, documented
status code, content type, headers and response body schema. SQLite backend.

The fuller run recorded in ``docs/reliability.md``::

    BACKTAL_FUZZ_EXAMPLES=60 .venv/bin/python -m pytest tests/security/test_fuzz.py -q -s
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select, update

from server.models import User, Video
from tests.conftest import Actor, make_user
from tests.server.helpers import upload

# tus PATCH bodies (PATCH /uploads/{id}) are raw bytes under the protocol's own media type
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

EXAMPLES = int(os.environ.get("BACKTAL_FUZZ_EXAMPLES", "6"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def db_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only: the fuzz run is about the API layer, and it must stay short in CI."""
    path = tmp_path / "fuzz.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def _seed(app: Any, client: Any, clip_bytes: bytes) -> tuple[dict[str, Actor], dict[str, int]]:
    admin = make_user(app, "admin", "admin")
    alice = make_user(app, "alice", "annotator")
    carol = make_user(app, "carol", "annotator")  # the target of token rotation
    video = upload(client, alice, clip_bytes).json()
    cls = client.post("/api/v1/classes", headers=admin.h, json={"name": "Bounce"}).json()
    click = client.post(
        f"/api/v1/videos/{video['id']}/clicks", headers=alice.h, json={"t_s": 1.0}
    ).json()
    client.put(f"/api/v1/videos/{video['id']}/labels", headers=alice.h, json={"class_ids": [1]})
    (job,) = client.get("/api/v1/jobs", headers=admin.h).json()
    known = {
        "video_id": video["id"],
        "click_id": click["id"],
        "job_id": job["id"],
        "user_id": carol.id,
        "class_id": cls["id"],
        "version_id": 1,
    }
    return {"admin": admin, "annotator": alice}, known


@pytest.mark.parametrize("role", ["admin", "annotator"])
def test_fuzz_whole_openapi(role: str, app, client, clip_bytes) -> None:  # type: ignore[no-untyped-def]
    actors, known = _seed(app, client, clip_bytes)
    token = actors[role].h
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30, "the OpenAPI lost operations"
    cases = 0
    statuses: dict[int, int] = {}
    failures: list[str] = []

    with app.state.sessionmaker() as s:
        token_hashes = {u.id: u.token_hash for u in s.scalars(select(User))}

    def restore() -> None:
        # a fuzzed DELETE or token rotation must not starve the cases after it
        with app.state.sessionmaker.begin() as s:
            s.execute(update(Video).where(Video.id == known["video_id"]).values(deleted_at=None))
            for user_id, digest in token_hashes.items():
                s.execute(update(User).where(User.id == user_id).values(token_hash=digest))

    for operation in operations:
        strategy = st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy, use_known=st.booleans())
        def check(case: Any, use_known: bool) -> None:
            nonlocal cases
            if use_known:
                for name in case.path_parameters or {}:
                    if name in known:
                        case.path_parameters[name] = known[name]
            cases += 1
            response = case.call(headers=token)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            restore()
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        except Exception as exc:
            failures.append(f"{operation.label}: {str(exc)[:1500]}")

    print(f"\nschemathesis as {role}: {len(operations)} operations, {cases} cases, {statuses}")
    assert cases >= len(operations)
    assert not failures, "\n\n".join(failures)
