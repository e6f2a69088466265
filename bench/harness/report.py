"""Rows, the machine they ran on, and the three outputs: a rich table, JSON, Markdown (and README).

A row carries the figures the issue asks for (rate, CPU seconds, peak RSS,
ratios to the ceiling and to the peer) plus the target and whether it
held. Targets are reported, never asserted: a missed target is a finding,
a crashed scenario or a wrong delivery count is a failure (see run.py).
"""

from __future__ import annotations

import json
import os
import platform
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"


@dataclass
class Row:
    scenario: str
    name: str
    rate: float | None = None
    unit: str = "/s"
    cpu_seconds: float | None = None
    operations: int | None = None
    peak_rss_mb: float | None = None
    vs_ceiling: float | None = None
    ceiling: str = ""
    vs_peer: float | None = None
    peer: str = ""
    target: str = ""
    checks: list[tuple[str, bool | None]] = field(default_factory=list)
    config: str = ""
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu_us_per_op(self) -> float | None:
        if self.cpu_seconds is None or not self.operations:
            return None
        return 1e6 * self.cpu_seconds / self.operations

    @property
    def met(self) -> bool | None:
        """True when every check held, False when one failed, None when some could not be judged."""
        values = [ok for _, ok in self.checks]
        if not values:
            return None
        if any(ok is False for ok in values):
            return False
        return None if any(ok is None for ok in values) else True

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["checks"] = [{"check": label, "ok": ok} for label, ok in self.checks]
        out["cpu_us_per_op"] = self.cpu_us_per_op
        out["met"] = self.met
        return out


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model or platform.processor(), "cores": os.cpu_count(),
            "python": platform.python_version(), "platform": platform.platform(terse=True)}


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else (f"{value:.0%}" if value < 1 else f"{value:.1f}x")


def _met(row: Row) -> str:
    return {True: "yes", False: "NO", None: "n/a"}[row.met]


COLUMNS = (
    "#", "scenario", "rate", "CPU s", "CPU µs/op", "peak RSS MB", "vs ceiling", "vs peer", "target", "met",
)


def cells(row: Row) -> list[str]:
    return [
        row.scenario, row.name, f"{_num(row.rate)} {row.unit}" if row.rate is not None else "—",
        _num(row.cpu_seconds, 2), _num(row.cpu_us_per_op, 1), _num(row.peak_rss_mb, 0),
        _ratio(row.vs_ceiling), _ratio(row.vs_peer), row.target, _met(row),
    ]


def markdown(rows: list[Row], meta: dict[str, Any], profiles: bool = True) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in cells(row)) + " |" for row in rows]
    lines.append("")
    for row in rows:
        extra = []
        if row.config:
            extra.append(f"best configuration: {row.config}")
        if row.ceiling:
            extra.append(f"ceiling: {row.ceiling}")
        if row.peer:
            extra.append(f"peer: {row.peer}")
        extra += row.notes
        if extra:
            lines.append(f"- **{row.scenario}** " + "; ".join(extra))
    for row in rows:
        profile = row.details.get("pushgate", {}).get("profile") if isinstance(row.details, dict) else None
        if profile and profiles:
            lines += ["", f"Profile of scenario {row.scenario} (py-spy, timed section, self time):", ""]
            lines += [f"{i}. {p['self_percent']}% `{p['function']}`" for i, p in enumerate(profile, 1)]
    m = meta["machine"]
    lines += [
        "",
        f"Run {meta['date']} on {m['cpu']}, {m['cores']} cores, Python {m['python']}; "
        f"load average before/after: {meta['load_before']} / {meta['load_after']}; sinks: {meta['sinks']}; "
        f"source {meta.get('source', '?')}; `{meta['command']}`.",
    ]
    return "\n".join(lines) + "\n"


def print_table(rows: list[Row], meta: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"pushgate benchmark — {meta['date']} — load {meta['load_after']}")
    for name in COLUMNS:
        table.add_column(name, justify="right" if name not in ("scenario", "target") else "left")
    for row in rows:
        style = {True: "green", False: "red", None: None}[row.met]
        table.add_row(*cells(row), style=style)
    console = Console(width=200)
    console.print(table)
    for row in rows:
        for note in ([f"best configuration: {row.config}"] if row.config else []) + row.notes:
            console.print(f"  [{row.scenario}] {note}", highlight=False)


def read_results(path: Path) -> tuple[list[Row], dict[str, Any]]:
    """The rows and meta of a ``latest.json`` (to re-render it or copy it into the README)."""
    data = json.loads(path.read_text())
    names = set(Row.__dataclass_fields__)
    rows = []
    for item in data["rows"]:
        row = Row(**{k: v for k, v in item.items() if k in names and k != "checks"})
        row.checks = [(c["check"], c["ok"]) for c in item.get("checks", [])]
        rows.append(row)
    return rows, data["meta"]


def write_results(rows: list[Row], meta: dict[str, Any], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "latest.json", out / "latest.md"
    json_path.write_text(json.dumps({"meta": meta, "rows": [r.as_dict() for r in rows]}, indent=2) + "\n")
    md_path.write_text(markdown(rows, meta))
    return json_path, md_path


README_SECTION = """## Benchmark

`python bench/run.py` runs the whole suite on this machine (nginx and h2load are
apt-installed when missing and running as root, `--install` otherwise; the peers
aioapns and pywebpush go into their own venvs under `~/.cache/pushgate-bench`).
`--quick` is the CI smoke; `--scenarios 1,3` picks scenarios; `--n` sets the size;
results land in `bench/results/latest.{json,md}` and `--readme` copies the table here.
See `bench/README.md` for the method.

"""


def update_readme(readme: Path, table_md: str, meta: dict[str, Any]) -> None:
    """Rewrite the block between the bench markers (add a Benchmark section if there is none)."""
    block = (f"{README_START}\n`python bench/run.py` runs the suite on your machine; the method, the sinks\n"
             f"and the peers are in [bench/README.md](bench/README.md). Latest run ({meta['date'][:10]}):\n\n"
             f"{table_md}{README_END}")
    text = readme.read_text()
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + README_SECTION + block + "\n"
    readme.write_text(text)


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
