"""The layout keeps providers in their own rooms: generic code names a provider in few places.

Run `python -m tests.test_layout` to list every place.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROVIDER = re.compile(r"ponto|yuki", re.IGNORECASE)
# A provider's own rooms: its package, its handler, storage and model modules, its simulator,
# the demo (one step per provider) and the migrations (one per provider's tables).
OWN_ROOMS = (
    "bot/providers/ponto/",
    "bot/providers/yuki/",
    "bot/sandbox/",
    "bot/demo/",
    "storage/migrations/",
    "handlers/ponto.py",
    "handlers/yuki.py",
    "storage/ponto.py",
    "storage/yuki.py",
    "storage/models/ponto.py",
    "storage/models/yuki.py",
)
LIMIT = 10


def _docstring_lines(source: str) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                lines.update(range(value.lineno, (value.end_lineno or value.lineno) + 1))
    return lines


def provider_names(path: Path) -> list[tuple[int, str]]:
    """Lines of code (not comments, not docstrings) in `path` that name a provider."""
    source = path.read_text(encoding="utf-8")
    skip = _docstring_lines(source)
    found: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        code = token.type in (tokenize.NAME, tokenize.STRING) and token.start[0] not in skip
        if code and PROVIDER.search(token.string):
            found.setdefault(token.start[0], token.line.strip())
    return sorted(found.items())


def generic_places() -> list[str]:
    places = []
    for package in ("bot", "handlers", "storage"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if not relative.startswith(OWN_ROOMS):
                places += [f"{relative}:{line}: {text}" for line, text in provider_names(path)]
    return places


def test_generic_code_names_a_provider_in_at_most_ten_places() -> None:
    places = generic_places()
    assert len(places) <= LIMIT, "\n".join(places)


def test_the_counter_sees_code_but_not_comments_or_docstrings(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('"""Ponto."""\n# yuki\nx = "ponto"\ndef f():\n    """Yuki."""\n    return Yuki\n')
    assert [line for line, _ in provider_names(sample)] == [3, 6]


if __name__ == "__main__":
    for place in generic_places():
        print(place)
    print(len(generic_places()), "places")
