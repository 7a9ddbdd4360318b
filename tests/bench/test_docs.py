"""The research docs: every ``python -m bench.…`` command the README and docs/ name is a command
of the package and its options parse (placeholders such as DIR filled in); no doc points at a
script path that no longer exists; the reports open with their answer; the index lists every
report and every command."""

from __future__ import annotations

import argparse
import re
import runpy
import shlex
import sys
from pathlib import Path

import pytest

from tests.bench.test_layout import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
RESEARCH = ROOT / "docs" / "research"
# reports written answer-first (their owners write the others' answers when they have one)
ANSWER_FIRST = (
    "supervision.md",
    "guided.md",
    "retrain-demo.md",
    "click-losses.md",
    "product-retrain.md",
)
PLACEHOLDERS = {
    "DIR": "/tmp/dir",
    "TERM": "click",
    "MODE": "bg-click",
    "N": "8",
    "V": "published",
    "L*": "published",
}  # L*: a plan's chosen click loss


def code_snippets(text: str) -> list[str]:
    """Fenced blocks and indented lines (a trailing backslash continues a line), then inline
    code spans (which may wrap across lines)."""
    out = []
    for block in re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S):
        out += re.sub(r"\\\n\s*", " ", block).splitlines()
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    indented = "\n".join(x[4:] for x in text.splitlines() if x.startswith("    "))
    out += re.sub(r"\\\n\s*", " ", indented).splitlines()
    out += [span.replace("\n", " ") for span in re.findall(r"`([^`]+)`", text)]
    return out


def commands_in(text: str) -> list[tuple[str, list[str]]]:
    """(module, arguments) of every ``python -m bench.…`` in the text's code."""
    found = []
    for snippet in code_snippets(text):
        for m in re.finditer(r"python -m (bench(?:\.[A-Za-z_]+)+)(\S*)(.*)", snippet):
            name, tail, rest = m.groups()
            if tail.startswith((".<", ".…", "<")):  # "python -m bench.<name>": a pattern
                continue
            rest = re.split(r"\s#|\s→|\s\(|`|;|\s{3,}", rest)[0]
            rest = rest.replace("[", " ").replace("]", " ").replace("{before,after}", "before")
            words = [PLACEHOLDERS.get(w, w) for w in shlex.split(rest)]
            found.append((name, [w for w in words if w not in ("…", "\\")]))
    return found


class Parsed(Exception):
    pass


def test_the_extraction_by_hand() -> None:
    text = (
        "Run `python -m bench.guided --k 3\n--error-rate 0` or\n\n"
        "```\npython -m bench.supervision --quick    # smoke\n"
        "python -m bench.supervision --seeds 0 \\\n    --modes weak\n```\n"
        "    .venv/bin/python -m bench.load --rounds 5\n"
        "and `python -m bench.<name> --help`, `python -m bench.studies.…`, "
        "`python -m bench.studies.deadstart_probes --sim DIR --epochs N`."
    )
    assert sorted(commands_in(text)) == sorted(
        [
            ("bench.guided", ["--k", "3", "--error-rate", "0"]),
            ("bench.supervision", ["--quick"]),
            ("bench.supervision", ["--seeds", "0", "--modes", "weak"]),
            ("bench.load", ["--rounds", "5"]),
            ("bench.studies.deadstart_probes", ["--sim", "/tmp/dir", "--epochs", "8"]),
        ]
    )


def _documented() -> list[tuple[str, str, list[str]]]:
    out = []
    for doc in DOCS:
        for name, args in commands_in(doc.read_text()):
            out.append((str(doc.relative_to(ROOT)), name, args))
    return out


DOCUMENTED = _documented()


def test_the_docs_name_the_benchmarks() -> None:
    named = {name for _, name, _ in DOCUMENTED}
    assert {"bench.supervision", "bench.guided", "bench.suggest_rules", "bench.click_qa"} <= named
    assert len(DOCUMENTED) > 40


@pytest.mark.parametrize(
    ("doc", "name", "args"), DOCUMENTED, ids=[f"{d}:{n}" for d, n, _ in DOCUMENTED]
)
def test_every_documented_command_exists_and_its_options_parse(
    doc: str, name: str, args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert name in COMMANDS, f"{doc} names {name}, which is no command"
    if not args:  # named, not invoked (an index, a heading): being a command is enough
        return
    parse = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):  # type: ignore[no-untyped-def]
        raise Parsed(parse(self, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    monkeypatch.setattr(sys, "argv", [name, *args])
    monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(Parsed):  # argparse exits (code 2, with the reason) on a bad option
        runpy.run_module(name, run_name="__main__", alter_sys=False)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_doc_points_at_a_script_that_is_gone(doc: Path) -> None:
    text = doc.read_text()
    for path in re.findall(r"(?<![\w/])bench/[a-z_/]+\.py\b", text):
        assert (ROOT / path).exists(), f"{doc.name} names {path}"
    # the old way to run them, outside a note saying what it became
    for m in re.finditer(r"python bench/[a-z_/]+\.py`?(.{0,4})", text):
        assert "→" in m.group(1), f"{doc.name}: {m.group(0)!r} (use python -m bench.…)"


@pytest.mark.parametrize("name", ANSWER_FIRST)
def test_the_reports_open_with_their_answer(name: str) -> None:
    text = (RESEARCH / name).read_text()
    first = text.split("\n## ", 1)[0]  # what comes before the first section
    for part in ("**Question", "**Answer", "**Uncertainty.**", "**Reproduce", "**Not known.**"):
        assert part in first, f"{name} does not open with {part}"
    assert len(first.splitlines()) <= 60  # one screen
    assert "python -m bench." in first.split("**Reproduce", 1)[1]
    assert "\n## Record\n" in text and text.index("\n## Record\n") > len(first)


def test_the_index_lists_every_report_and_every_command() -> None:
    index = (RESEARCH / "README.md").read_text()
    for report in RESEARCH.glob("*.md"):
        if report.name != "README.md":
            assert f"]({report.name})" in index, report.name
    for name in COMMANDS:
        assert f"`python -m {name}`" in index or f"`python -m {name}` (" in index, name
