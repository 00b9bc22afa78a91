#!/usr/bin/env python3
"""Owner-filter mutation: remove each user filter of the owner-scoped queries, one at a time, and
check that the isolation tests notice.

    .venv/bin/python scripts/mutate_owners.py                 # every module in MODULES
    .venv/bin/python scripts/mutate_owners.py app/services/reports.py
    .venv/bin/python scripts/mutate_owners.py --list          # the mutants, without running

A generic mutation tester turns ``Wallet.user_id == user_id`` into ``!=`` (any test that reads
one's own data kills it) but never *drops* the condition, which is the mistake that leaks another
user's rows. This tool makes exactly that mutant for every owner filter it finds:

* a comparison ``<x>.user_id == <y>`` (SQLAlchemy column or plain attribute) becomes ``True``
  (SQLAlchemy reads a Python ``True`` in ``where()`` as ``true()``);
* in SQL text, ``user_id = :uid AND`` is removed and ``WHERE user_id = :uid`` becomes
  ``WHERE 1 = 1``.

Each mutant is applied to a private copy of the work tree (the tree you work in is never touched)
and the module's mapped tests run with ``-x``; a failing run kills it. Survivors are printed with
their line; the ones that are equivalent (the ownership was already checked by an earlier query
of the same call, so the dropped filter cannot change a result) are listed with the reason in
docs/testing.md.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Module -> tests that should kill its owner-filter mutants (the isolation tests of that area).
MODULES: dict[str, tuple[str, ...]] = {
    "app/services/portfolios.py": (
        "tests/portfolios/test_two_users.py",
        "tests/portfolios/test_api.py",
    ),
    "app/services/reports.py": (
        "tests/portfolios/test_api.py",
        "tests/portfolios/test_two_users.py",
    ),
    "app/services/wallets.py": (
        "tests/wallets/test_addresses_labels_api.py",
        "tests/wallets/test_import_api.py",
        "tests/subscriptions/test_ownership.py",
    ),
    "app/services/lightning.py": ("tests/lightning/test_graphql.py",),
    "app/sync/queries.py": ("tests/sync/test_api.py",),
}

SQL_AND = re.compile(r"user_id\s*=\s*:uid\s+AND\s+", re.IGNORECASE)
SQL_WHERE = re.compile(r"WHERE\s+user_id\s*=\s*:uid", re.IGNORECASE)


@dataclass(frozen=True)
class Mutant:
    module: str
    line: int
    before: str
    source: str  # the whole mutated module

    def label(self) -> str:
        return f"{self.module}:{self.line}: {self.before.strip()[:110]}"


def _offsets(text: str) -> list[int]:
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _is_owner_compare(node: ast.Compare) -> bool:
    return (
        len(node.ops) == 1
        and isinstance(node.ops[0], ast.Eq)
        and isinstance(node.left, ast.Attribute)
        and node.left.attr == "user_id"
    )


def mutants_of(module: str) -> list[Mutant]:
    text = (ROOT / module).read_text()
    tree = ast.parse(text)
    starts = _offsets(text)
    lines = text.splitlines()
    out: list[Mutant] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and _is_owner_compare(node):
            assert node.end_lineno is not None and node.end_col_offset is not None
            a = starts[node.lineno - 1] + node.col_offset
            b = starts[node.end_lineno - 1] + node.end_col_offset
            out.append(Mutant(module, node.lineno, lines[node.lineno - 1], text[:a] + "True" + text[b:]))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and ":uid" in node.value:
            for pattern, repl in ((SQL_AND, ""), (SQL_WHERE, "WHERE 1 = 1")):
                if pattern.search(node.value):
                    line = node.lineno
                    # The literal may be one of several implicitly concatenated pieces: mutate
                    # the source text of the line that holds the filter.
                    for ln in range(node.lineno, (node.end_lineno or node.lineno) + 1):
                        if pattern.search(lines[ln - 1]):
                            line = ln
                            break
                    mutated = lines.copy()
                    mutated[line - 1] = pattern.sub(repl, lines[line - 1], count=1)
                    if mutated[line - 1] != lines[line - 1]:
                        out.append(Mutant(module, line, lines[line - 1], "\n".join(mutated) + "\n"))
                    break
    unique = {m.source: m for m in out}  # one SQL literal can be visited twice (JoinedStr parts)
    return sorted(unique.values(), key=lambda m: m.line)


def copy_tree(dest: Path) -> None:
    everywhere = shutil.ignore_patterns("__pycache__", "*.egg-info", "node_modules")
    top_level = {".venv", ".git", ".mutants", "data"}  # the server's data dir, not app/prices/data

    def ignore(folder: str, names: list[str]) -> set[str]:
        skip = set(everywhere(folder, names))
        return skip | (top_level & set(names)) if Path(folder) == ROOT else skip

    shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)


def run_tests(tree: Path, tests: tuple[str, ...], timeout_s: float) -> tuple[bool, float]:
    """True when the tests pass."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-n", "0", "-p", "no:cacheprovider", *tests]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return False, time.monotonic() - t0  # a hang counts as killed (noticed)
    return proc.returncode == 0, time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("modules", nargs="*", help="modules of MODULES (default: all)")
    ap.add_argument("--list", action="store_true", help="print the mutants only")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per test run")
    args = ap.parse_args()
    modules = args.modules or list(MODULES)
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        ap.error(f"not in MODULES: {', '.join(unknown)}")
    if args.list:
        for m in modules:
            for mut in mutants_of(m):
                print(mut.label())
        return 0
    summary = []
    with tempfile.TemporaryDirectory(prefix="mbf-owners-") as tmp:
        tree = Path(tmp) / "tree"
        copy_tree(tree)
        for module in modules:
            tests = MODULES[module]
            original = (tree / module).read_text()
            ok, took = run_tests(tree, tests, args.timeout)
            if not ok:
                print(f"{module}: the tests fail without any mutant; fix them first", flush=True)
                return 2
            print(f"{module}: baseline green in {took:.0f} s; tests: {' '.join(tests)}", flush=True)
            killed, survived = 0, []
            for mut in mutants_of(module):
                (tree / module).write_text(mut.source)
                passed, took = run_tests(tree, tests, args.timeout)
                (tree / module).write_text(original)
                verdict = "SURVIVED" if passed else "killed"
                print(f"  {verdict:<8} {took:5.0f} s  {mut.label()}", flush=True)
                if passed:
                    survived.append(mut)
                else:
                    killed += 1
            total = killed + len(survived)
            summary.append((module, total, killed, len(survived)))
    print("\nmodule                                   mutants  killed  survived")
    for module, total, killed, surv in summary:
        print(f"{module:<40} {total:>7} {killed:>7} {surv:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
