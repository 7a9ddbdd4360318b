""".ci/run: under CI=true a missing Chromium or an unreachable PostgreSQL stops it before the
suite (exit 1, nothing run); outside CI they are warnings; a CI run requires both kinds of
test to run (BACKTAL_TEST_REQUIRE, enforced by tests/conftest.py, tested here as well).

The script runs from a copy of the repository's layout in a temporary folder, with ``make``
and ``apt-get`` replaced on PATH by stubs that only record their calls, so the real lint and
suite never run inside this test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
STUB = """#!/bin/sh
echo "$(basename "$0") $* | require=${BACKTAL_TEST_REQUIRE:-} | pg=${BACKTAL_TEST_PG_URL:-}" >> "%s"
exit %d
"""


def _executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def run_ci(tmp_path: Path, *, ci: bool, chromium: bool, pg_url: str) -> tuple[int, str, list[str]]:
    """Run a copy of .ci/run; returns its exit code, its output and the stubs' calls."""
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    shutil.copy2(ROOT / ".ci" / "run", repo / ".ci" / "run")
    # what `make install` leaves behind: the virtual environment's python (this one)
    _executable(repo / ".venv" / "bin" / "python", f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    calls = tmp_path / "calls.log"
    calls.touch()
    stubs = tmp_path / "stubs"
    _executable(stubs / "make", STUB % (calls, 0))
    _executable(stubs / "apt-get", STUB % (calls, 1))
    browser = tmp_path / "chromium"
    if chromium:
        _executable(browser, "#!/bin/sh\nexit 0\n")
    env = {
        "PATH": f"{stubs}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "BACKTAL_CHROMIUM": str(browser),
        "BACKTAL_TEST_PG_URL": pg_url,
    }
    if ci:
        env["CI"] = "true"
    done = subprocess.run(
        ["bash", str(repo / ".ci" / "run")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr, calls.read_text().splitlines()


def _closed_port_url() -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"  # nothing listens


def _made(calls: list[str]) -> list[str]:
    return [c.split(" | ")[0] for c in calls if c.startswith("make ")]


def test_ci_stops_before_the_suite_without_postgres(tmp_path: Path) -> None:
    rc, out, calls = run_ci(tmp_path, ci=True, chromium=True, pg_url=_closed_port_url())
    assert rc == 1, out
    assert "error: PostgreSQL not reachable" in out and "OperationalError" in out, out
    assert "Chromium is not installed" not in out
    assert _made(calls) == ["make install"], calls  # no lint, no suite


def test_ci_stops_before_the_suite_without_chromium_or_either(tmp_path: Path) -> None:
    rc, out, calls = run_ci(tmp_path, ci=True, chromium=False, pg_url=_closed_port_url())
    assert rc == 1, out
    assert "error: Chromium is not installed at" in out and "PostgreSQL not reachable" in out
    assert "nothing was run" in out
    assert _made(calls) == ["make install"], calls
    assert not any(c.startswith("apt-get") for c in calls)  # not Debian's path: no install


@pytest.mark.postgres
def test_ci_stops_before_the_suite_without_chromium(tmp_path: Path, pg_database: str) -> None:
    rc, out, calls = run_ci(tmp_path, ci=True, chromium=False, pg_url=pg_database)
    assert rc == 1, out
    assert "error: Chromium is not installed at" in out and "PostgreSQL not" not in out, out
    assert _made(calls) == ["make install"], calls


@pytest.mark.postgres
def test_ci_with_both_runs_lint_then_the_suite_requiring_both(
    tmp_path: Path, pg_database: str
) -> None:
    rc, out, calls = run_ci(tmp_path, ci=True, chromium=True, pg_url=pg_database)
    assert rc == 0, out
    assert calls == [
        "make install | require= | pg=" + pg_database,
        f"make lint | require=browser,postgres | pg={pg_database}",
        f"make test | require=browser,postgres | pg={pg_database}",
    ]


def test_outside_ci_missing_ones_are_warnings(tmp_path: Path) -> None:
    rc, out, calls = run_ci(tmp_path, ci=False, chromium=False, pg_url=_closed_port_url())
    assert rc == 0, out
    assert "warning: Chromium is not installed" in out and "warning: PostgreSQL not" in out
    assert [c.split(" | ")[:2] for c in calls] == [
        ["make install", "require="],
        ["make lint", "require="],
        ["make test", "require="],
    ]


# ---------------------------------------------------------- BACKTAL_TEST_REQUIRE (conftest)
SKIPPING = """
import pytest

def test_in_chromium(browser):
    pass

def test_on_postgres(pg_database):
    pass

@pytest.mark.browser
def test_without_its_data():  # a browser test skipped for another reason stays skipped
    pytest.skip("no clip to play")

def test_runs():
    pass
"""


def _pytest(tmp_path: Path, require: str) -> tuple[int, str]:
    """tests/conftest.py's hooks and fixtures on SKIPPING, without Chromium or PostgreSQL."""
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    env = {
        **os.environ,
        "BACKTAL_TEST_REQUIRE": require,
        "BACKTAL_TEST_PG_URL": "",
        "BACKTAL_CHROMIUM": str(tmp_path / "no-chromium"),
    }
    plugin = ["-p", "tests.conftest", "-p", "no:cacheprovider", "-o", "markers=browser"]
    alone = ["-c", os.devnull, "--rootdir", str(tmp_path)]  # not this repository's config
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *plugin, *alone, str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def test_required_resources_fail_instead_of_skipping_and_skips_are_counted(
    tmp_path: Path,
) -> None:
    rc, out = _pytest(tmp_path, "")
    assert rc == 0, out
    assert "1 passed, 3 skipped" in out, out
    assert "- 3 skipped -" in out  # the summary: how many, then one line per reason
    assert f"     1  Debian chromium ({tmp_path / 'no-chromium'}) is not installed" in out
    assert "     1  PostgreSQL not configured" in out and "     1  no clip to play" in out
    rc, out = _pytest(tmp_path, "browser,postgres")
    assert rc == 1, out
    assert "1 passed, 1 skipped, 2 errors" in out, out
    assert "BACKTAL_TEST_REQUIRE=browser,postgres says the browser tests must run" in out
    assert "BACKTAL_TEST_REQUIRE=browser,postgres says the postgres tests must run" in out
    assert "     1  no clip to play" in out
    rc, out = _pytest(tmp_path, "postgres")
    assert rc == 1 and "1 passed, 2 skipped, 1 error" in out, out
    rc, out = _pytest(tmp_path, "browser,gpu")
    assert rc != 0 and "BACKTAL_TEST_REQUIRE: unknown ['gpu']" in out, out
