"""Reading device files for ``pushgate devices import``: CSV, JSON lines, or a JSON array.

Each row becomes the JSON object ``POST /v1/devices`` takes, so a file and
the API accept the same fields. Rows are yielded one at a time (JSON lines
and CSV are streamed; a JSON array is parsed whole, as the standard library
offers no streaming parser) and a callback reports progress in bytes or
rows.

CSV: a header row names the columns (``provider,token,user,platform,tags``
…); empty cells are "not given"; ``tags`` is ``;``-separated; a
``subscription`` cell holds a Web Push subscription's JSON.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

FileFormat = Literal["csv", "jsonl", "json"]
TAG_SEPARATOR = ";"
_SUFFIXES: dict[str, FileFormat] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}


class DeviceFileError(ValueError):
    """The file as a whole cannot be read (not a row's problem: those are reported per row)."""


def detect_format(path: Path) -> FileFormat:
    """By extension; otherwise by the first character (``[`` array, ``{`` lines, else CSV)."""
    if path.suffix.lower() in _SUFFIXES:
        found = _SUFFIXES[path.suffix.lower()]
        if found != "json":
            return found
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip()
    if head.startswith(b"["):
        return "json"
    if head.startswith(b"{"):
        return "jsonl"
    return "csv"


def count_units(path: Path, kind: FileFormat) -> int:
    """The progress total: bytes for streamed formats, rows for a JSON array."""
    if kind == "json":
        return len(_load_array(path))
    return path.stat().st_size


def read_rows(path: Path, kind: FileFormat, advance: Callable[[int], None]) -> Iterator[Any]:
    """The file's rows; ``advance(n)`` is called with bytes (CSV, JSON lines) or rows read (array)."""
    if kind == "json":
        for row in _load_array(path):
            advance(1)
            yield row
        return
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        lines = _counting(handle, advance)
        if kind == "jsonl":
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except ValueError:
                    yield UnreadableRow(f"line {number} is not JSON")
            return
        reader = csv.DictReader(lines)
        columns = set(reader.fieldnames or ())
        if not columns & {"token", "subscription"}:
            raise DeviceFileError("a CSV file needs a header row with at least provider and token")
        for record in reader:
            yield _from_csv(record)


class UnreadableRow(str):
    """A line that is not JSON: passed on (so row numbers stay aligned) and reported as such."""


def _counting(lines: Iterator[str], advance: Callable[[int], None]) -> Iterator[str]:
    for line in lines:
        advance(len(line.encode("utf-8")))
        yield line


def _from_csv(record: dict[str | Any, str | Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, value in record.items():
        if key is None or value is None or value == "":
            continue  # surplus cells, or "not given"
        name = str(key).strip()
        if name == "tags":
            row["tags"] = [tag.strip() for tag in str(value).split(TAG_SEPARATOR) if tag.strip()]
        elif name == "subscription":
            try:
                row["subscription"] = json.loads(value)
            except ValueError:
                row["subscription"] = value  # reported by the registry as "not JSON"
        else:
            row[name] = value
    return row


def _load_array(path: Path) -> list[Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise DeviceFileError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise DeviceFileError(f"{path}: a JSON file holds an array of device objects")
    return data
