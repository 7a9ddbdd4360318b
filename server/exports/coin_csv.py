"""The click-file layout of the COIN annotation tool, as in BackTAL's THUMOS14 files.

``URLID,URL,TagID,Tag,Start,End,Time,State`` after a UTF-8 BOM, ``\\n`` between rows and no
newline after the last one. A click is a row with Start == End (seconds); background
clicks carry ``TagID`` = number of classes and ``Tag`` = ``background_background``;
``Time`` counts how often the annotator saved the click; ``State`` 1 means tagged.
Action clicks (our extension) carry the class index and ``<name>_<name>``.
Pure functions: rows in, bytes out, and back.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

from server.timebase import format_seconds

BOM = "\ufeff"
HEADER = ["URLID", "URL", "TagID", "Tag", "Start", "End", "Time", "State"]
BACKGROUND_TAG = "background_background"


@dataclass(frozen=True)
class CoinRow:
    line: int  # 1-based line number in the file (the header is line 1)
    urlid: str
    url: str
    tag_id: int
    tag: str
    start: float
    end: float
    time: int
    state: int


class CoinFormatError(ValueError):
    """The file is not in the COIN click layout; the message says where and why."""


def action_tag(class_name: str) -> str:
    return f"{class_name}_{class_name}"


def write_rows(rows: list[tuple[str, str, int, str, float, float, int, int]]) -> bytes:
    """Rows (urlid, url, tag_id, tag, start, end, time, state) → the file's bytes."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    for urlid, url, tag_id, tag, start, end, time, state in rows:
        writer.writerow(
            [urlid, url, tag_id, tag, format_seconds(start), format_seconds(end), time, state]
        )
    return (BOM + buf.getvalue().removesuffix("\n")).encode("utf-8")


def _number(text: str, what: str, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CoinFormatError(f"line {line}: {what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise CoinFormatError(f"line {line}: {what} must be a finite number, not {text!r}")
    return value


def _integer(text: str, what: str, line: int) -> int:
    try:
        return int(text)
    except ValueError:
        raise CoinFormatError(f"line {line}: {what} {text!r} is not a whole number") from None


def parse(data: bytes, max_rows: int) -> list[CoinRow]:
    """Parse and check the layout (not the content: videos and classes are checked later)."""
    try:
        return _parse(data, max_rows)
    except csv.Error as exc:  # e.g. a field over the csv module's 128 KiB field limit
        raise CoinFormatError(f"the file is not valid CSV: {exc}") from None


def _parse(data: bytes, max_rows: int) -> list[CoinRow]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CoinFormatError(f"the file is not UTF-8 text (byte {exc.start})") from None
    text = text.removeprefix(BOM)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header != HEADER:
        got = ",".join(header) if header else "an empty file"
        raise CoinFormatError(f"wrong header: expected {','.join(HEADER)!r}, got {got!r}")
    rows: list[CoinRow] = []
    for line, fields in enumerate(reader, start=2):
        if not fields:
            continue
        if len(rows) >= max_rows:
            raise CoinFormatError(f"the file has more than {max_rows} rows")
        if len(fields) != len(HEADER):
            raise CoinFormatError(f"line {line}: expected 8 fields, found {len(fields)}")
        urlid, url, tag_id, tag, start, end, time, state = fields
        row = CoinRow(
            line=line,
            urlid=urlid.strip(),
            url=url,
            tag_id=_integer(tag_id, "TagID", line),
            tag=tag,
            start=_number(start, "Start", line),
            end=_number(end, "End", line),
            time=_integer(time, "Time", line),
            state=_integer(state, "State", line),
        )
        if row.start < 0 or row.end < row.start:
            raise CoinFormatError(f"line {line}: need 0 <= Start <= End, got {start}, {end}")
        if row.time < 1:
            raise CoinFormatError(f"line {line}: Time counts saves and must be at least 1")
        if row.state != 1:
            raise CoinFormatError(f"line {line}: State {row.state} is not 1 (tagged)")
        rows.append(row)
    return rows
