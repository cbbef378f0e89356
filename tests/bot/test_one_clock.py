"""Only bot/clock.py reads the wall clock: everything else is given the one Clock."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "handlers", "storage")
ALLOWED = {Path("bot/clock.py")}
# (object, attribute) pairs whose call reads the wall clock; monotonic and perf_counter measure
# durations and are fine.
WALL_CLOCK_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "localtime"),
    ("time", "gmtime"),
    ("time", "ctime"),
}


def wall_clock_reads(source: str, label: str) -> list[str]:
    """`label:line call` for every call in `source` that reads the wall clock."""
    found = []
    for node in ast.walk(ast.parse(source, filename=label)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value
        name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
        if (name, node.func.attr) in WALL_CLOCK_CALLS:
            found.append(f"{label}:{node.lineno} {name}.{node.func.attr}()")
    return found


def all_reads() -> list[str]:
    return [
        read
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.relative_to(ROOT) not in ALLOWED
        for read in wall_clock_reads(path.read_text(), str(path.relative_to(ROOT)))
    ]


def test_no_module_but_the_clock_reads_the_wall_clock() -> None:
    assert all_reads() == []


def test_the_check_finds_each_kind_of_wall_clock_read() -> None:
    sample = (
        "import datetime as dt, time\nfrom datetime import date\n"
        "a = dt.datetime.now(dt.UTC)\nb = time.time()\nc = date.today()\nd = time.monotonic()\n"
    )
    assert wall_clock_reads(sample, "sample.py") == [
        "sample.py:3 datetime.now()",
        "sample.py:4 time.time()",
        "sample.py:5 date.today()",
    ]


if __name__ == "__main__":  # `python -m tests.bot.test_one_clock` lists the readers
    print("\n".join(all_reads()) or "no module but bot/clock.py reads the wall clock")
