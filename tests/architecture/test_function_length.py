"""No function or method outside tests/ is longer than 60 lines (decorators and docstring included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("det_model", "components", "pipelines", "bench")
LIMIT = 60


def long_functions(source: str, limit: int = LIMIT) -> list[tuple[str, int]]:
    """(name, lines) of every function in `source` longer than `limit` lines."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            length = node.end_lineno - first + 1
            if length > limit:
                out.append((node.name, length))
    return out


# Each row: a source and how many functions in it are over a 3-line limit.
CASES = [
    ("def f():\n    return 1\n", 0),  # 2 lines
    ("def f():\n    a = 1\n    b = 2\n    return a + b\n", 1),  # 4 lines
    ("class C:\n    def m(self):\n        x = 1\n        y = 2\n        return x\n", 1),  # methods count
    ("@d\n@e\ndef f():\n    return 1\n", 1),  # decorators count
]


@pytest.mark.parametrize("source,count", CASES)
def test_long_functions_table(source: str, count: int) -> None:
    assert len(long_functions(source, limit=3)) == count


def test_no_function_over_the_limit() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{name} ({length} lines)"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if not any(part.startswith(".") for part in path.relative_to(ROOT).parts)  # caches (bench/.cache)
        for name, length in long_functions(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
