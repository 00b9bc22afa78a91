#!/usr/bin/env python3
"""Mutation testing of the critical modules with cosmic-ray, one module at a time.

    .venv/bin/python scripts/mutate.py                       # every module in MODULES
    .venv/bin/python scripts/mutate.py app/bitcoin/derive.py --budget 600
    .venv/bin/python scripts/mutate.py app/x.py --tests tests/x/test_y.py --max-mutants 150

Each module is mutated in a private copy of the work tree (the tree you work in is never
touched), with only the tests mapped to it (``MODULES``), under a time budget. Per module:

1. ``cosmic-ray init``; operators reduced to one natural counterpart each (``EXCLUDE_OPERATORS``:
   ``+`` -> ``-`` but not ``+`` -> ``<<``), mutants inside type annotations and on lines marked
   ``# pragma: no mutate`` skipped (never evaluated at run time, or reviewed as equivalent).
2. A baseline run of the tests (must pass) and one under coverage: a mutant on a line those
   tests never execute is recorded as *uncovered* (a survivor) without running.
3. ``cosmic-ray exec`` until done or the budget is spent. The tests run in a forked child of a
   warm process that has the third-party libraries imported already (``--cold`` starts a fresh
   interpreter per mutant instead); the project's own modules are imported fresh from disk.
4. A summary line per module: killed, timeout (counted as killed), survived, uncovered, not run
   (budget), and the score ``(killed + timeout) / (killed + timeout + survived + uncovered)``.
   Survivors with their diffs go to ``.mutants/<module>.survivors.txt``; the cosmic-ray session
   stays in ``.mutants/<module>.sqlite`` (``cr-report``/``cr-html`` read it).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import random
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".mutants"


@dataclass(frozen=True)
class Module:
    tests: tuple[str, ...]
    budget_s: int = 900  # wall-clock budget of the exec phase
    max_mutants: int | None = None  # sample this many (seeded) when a module has more


# Critical modules and the tests that should kill their mutants (fast, relevant ones only).
MODULES: dict[str, Module] = {
    "app/bitcoin/descriptors.py": Module(("tests/bitcoin",), 1200),
    "app/bitcoin/derive.py": Module(("tests/bitcoin",), 900),
    # sync: SQLite only (-k); the PostgreSQL variants test the store, not the scan
    "app/sync/scanner.py": Module(
        ("-k", "not postgres", "tests/sync/test_gap_limit.py", "tests/sync/test_sync.py"), 1800, 80
    ),
    "app/sync/view.py": Module(
        (
            "tests/sync/test_view.py",
            "tests/sync/test_view_edges.py",
            "-k",
            "not postgres",
            "tests/sync/test_gap_limit.py",
        ),
        1500,
    ),
    "app/sync/jobs.py": Module(("tests/sync/test_sync.py",), 1200, 100),
    "app/sync/persist.py": Module(("tests/sync/test_sync.py", "tests/sync/test_api.py"), 1200, 100),
    "app/sync/queries.py": Module(("tests/sync/test_api.py", "tests/sync/test_sync.py"), 900),
    "app/services/accounts.py": Module(("tests/foundation/test_accounts.py", "tests/security"), 900),
    "app/services/second_factor.py": Module(("tests/security", "tests/foundation/test_accounts.py"), 900),
    "app/services/api_keys.py": Module(("tests/security/test_accounts_keys.py",), 900),
    "app/security/policy.py": Module(
        ("tests/security/test_accounts_keys.py", "tests/security/test_accounts_roles.py"), 900
    ),
    "app/security/totp.py": Module(("tests/security/test_accounts_totp.py",), 600),
    "app/security/passwords.py": Module(("tests/foundation/test_accounts.py",), 300),
    "app/security/tokens.py": Module(("tests/foundation/test_accounts.py", "tests/foundation/test_context.py"), 600),
    "app/security/throttle.py": Module(("tests/security/test_accounts_throttle.py",), 900),
    "app/security/crypto.py": Module(("tests/foundation/test_config_security.py",), 600),
    "app/services/wallets.py": Module(
        ("tests/wallets/test_service.py", "tests/wallets/test_addresses_labels_api.py"), 1200, 150
    ),
    "app/services/portfolios.py": Module(("tests/portfolios/test_api.py",), 1200, 120),
    "app/services/reports.py": Module(("tests/reports",), 900, 100),
    "app/services/lightning.py": Module(("tests/lightning/test_graphql.py",), 1200, 100),
    # the whole of tests/analytics runs in ~6 s: the edge-case and risk tests kill most survivors
    "app/analytics/costbasis.py": Module(("tests/analytics",), 1500),
    "app/analytics/returns.py": Module(("tests/analytics",), 1500),
    "subscriptions/stream.py": Module(
        (
            "tests/subscriptions/test_stream_gaps.py",
            "tests/subscriptions/test_ownership.py",
            "tests/subscriptions/test_ws.py",
            "tests/subscriptions/test_wallet_subscriptions.py",
        ),
        900,
    ),
    "subscriptions/live.py": Module(("tests/subscriptions",), 1200, 120),
    "subscriptions/transport.py": Module(("tests/subscriptions", "tests/foundation/test_websocket.py"), 1200, 120),
}

# One natural counterpart per operator (cosmic-ray's default set replaces each operator with
# every other one: ~10 mutants per `+`, most of them redundant with the natural one).
KEEP_BINARY = {
    "Add": "Sub", "Sub": "Add", "Mul": "Div", "Div": "Mul", "FloorDiv": "Mul", "Mod": "FloorDiv",
    "Pow": "Mul", "LShift": "RShift", "RShift": "LShift", "BitOr": "BitAnd", "BitAnd": "BitOr",
    "BitXor": "BitOr",
}  # fmt: skip
KEEP_COMPARISON = {
    "Eq": "NotEq", "NotEq": "Eq", "Lt": "LtE", "LtE": "Lt", "Gt": "GtE", "GtE": "Gt", "Is": "IsNot",
    "IsNot": "Is", "In": "NotIn", "NotIn": "In",
}  # fmt: skip
BINARY_OPS = (*KEEP_BINARY, "MatMult")
COMPARISON_OPS = tuple(KEEP_COMPARISON)


def exclude_operators() -> list[str]:
    out = []
    for a in BINARY_OPS:
        for b in BINARY_OPS:
            if a != b and KEEP_BINARY.get(a) != b:
                out.append(f"core/ReplaceBinaryOperator_{a}_{b}$")
    for a in COMPARISON_OPS:
        for b in COMPARISON_OPS:
            if a != b and KEEP_COMPARISON.get(a) != b:
                out.append(f"core/ReplaceComparisonOperator_{a}_{b}$")
    # `not x` -> `~x` etc.: type errors at once, not a test of behaviour.
    out += [
        "core/ReplaceUnaryOperator_Not_",
        "core/ReplaceUnaryOperator_USub_Invert",
        "core/ReplaceUnaryOperator_UAdd_",
    ]
    return out


# Imported once by the warm runner before it forks (never the project's own packages).
PRELOAD = (
    "pytest", "pytest_asyncio", "pytest_timeout", "xdist", "_pytest.assertion.rewrite", "anyio", "asyncio",
    "sqlalchemy", "sqlalchemy.ext.asyncio", "sqlmodel", "aiosqlite", "asyncpg", "alembic", "strawberry",
    "starlette", "uvicorn", "httpx", "websockets", "pydantic", "pydantic_settings", "structlog", "embit",
    "embit.descriptor", "embit.bip32", "numpy", "redis", "cryptography", "argon2", "pyotp", "jinja2",
    "reportlab", "rich", "typer", "prometheus_client", "grpc", "google.protobuf",
)  # fmt: skip


# ------------------------------------------------------------------------------ warm runner


PACKAGES = ("app", "schema", "resolvers", "subscriptions")


def module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Project module -> the project modules it imports anywhere in its source (static, so an
    import inside a function counts too), parent packages included."""
    files = {module_name(root, f): f for pkg in PACKAGES for f in (root / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, f in files.items():
        is_pkg = f.name == "__init__.py"
        found: set[str] = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                    pkg = pkg[: len(pkg) - (node.level - 1)]
                    base = ".".join([*pkg, base] if base else pkg)
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)
        deps = set()
        for mod in found:
            parts = mod.split(".")
            deps.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        graph[name] = deps & set(files)
    return graph


def independent_modules(root: Path, target: str) -> list[str]:
    """Project modules that do not import ``target`` (directly or not): safe to import before
    forking, because the mutated module and everything that uses it are imported fresh."""
    graph = import_graph(root)
    tainted = {target}
    changed = True
    while changed:
        changed = False
        for name, deps in graph.items():
            if name not in tainted and deps & tainted:
                tainted.add(name)
                changed = True
    return sorted(n for n in graph if n not in tainted and not n.startswith("app.dev"))


def serve(sock_path: str, target: str) -> None:
    """Accept one pytest run at a time, run it in a forked child, reply with its exit code.
    A client that goes away (cosmic-ray's timeout kills it) gets its child killed."""
    import importlib

    sys.dont_write_bytecode = True
    root = Path.cwd()
    sys.path.insert(0, str(root))
    for name in (*PRELOAD, *independent_modules(root, module_name(root, root / target))):
        try:
            importlib.import_module(name)
        except Exception:
            continue
    Path(sock_path).unlink(missing_ok=True)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(4)
    print("ready", flush=True)
    while True:
        conn, _ = srv.accept()
        with conn:
            request = b""
            while not request.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                request += chunk
            if not request.endswith(b"\n"):
                continue
            args, cwd = json.loads(request)
            pid = os.fork()
            if pid == 0:  # child: its own session, so that a kill takes its subprocesses too
                os.setsid()
                os.chdir(cwd)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                import pytest

                try:
                    rc = int(pytest.main(args))
                except BaseException:
                    rc = 3
                os._exit(rc)
            rc = _wait_child(pid, conn)
            if rc is not None:
                with contextlib.suppress(OSError):
                    conn.sendall(f"{rc}\n".encode())


def _wait_child(pid: int, conn: socket.socket) -> int | None:
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1
        readable, _, _ = select.select([conn], [], [], 0.02)
        if readable and not conn.recv(1, socket.MSG_PEEK):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None


def client(sock_path: str, args: list[str]) -> int:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    s.sendall(json.dumps([args, os.getcwd()]).encode() + b"\n")
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = s.recv(64)
        if not chunk:
            return 2
        reply += chunk
    return int(reply)


# ------------------------------------------------------------------------------ the driver


def slug(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".")


def make_copy() -> Path:
    """A private copy of the work tree as it is now (tracked and untracked, not ignored files)."""
    dest = Path(tempfile.mkdtemp(prefix="mbf-mutate-"))
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = raw.decode()
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def annotation_spans(path: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Source spans of type annotations: never evaluated at run time (``from __future__ import
    annotations``), so a mutant there (``str | None`` -> ``str & None``) cannot be killed."""
    spans = []
    for node in ast.walk(ast.parse(path.read_text())):
        ann = None
        if isinstance(node, ast.arg):
            ann = node.annotation
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            ann = node.returns
        elif isinstance(node, ast.AnnAssign):
            ann = node.annotation
        if ann is not None:
            spans.append(((ann.lineno, ann.col_offset), (ann.end_lineno or ann.lineno, ann.end_col_offset or 0)))
    return spans


def in_annotation(
    spans: list[tuple[tuple[int, int], tuple[int, int]]], start: tuple[int, int], end: tuple[int, int]
) -> bool:
    return any(a <= tuple(start) and tuple(end) <= b for a, b in spans)


def is_keyword_only_marker(lines: list[str], operator: str, start: tuple[int, int]) -> bool:
    """cosmic-ray's parser sees the bare ``*`` of a signature (``def f(a, *, b)``) as a
    multiplication; turning it into ``/`` is not a change of behaviour worth a test."""
    if not operator.startswith("core/ReplaceBinaryOperator_Mul_"):
        return False
    row, col = start
    line = lines[row - 1] if 0 < row <= len(lines) else ""
    return line[col : col + 1] == "*" and line[col + 1 :].lstrip()[:1] in (",", ")")


def pytest_args(tests: tuple[str, ...]) -> list[str]:
    return [
        "-x",
        "-q",
        "-n",
        "0",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "--assert=plain",
        "--timeout",
        "120",
        *tests,
    ]


def covered_lines(copy: Path, module: str, tests: tuple[str, ...], env: dict[str, str]) -> set[int] | None:
    data = copy / ".coverage.mutate"
    rc = copy / ".mutate-coveragerc"  # not the project's settings (source=, subprocess patch)
    rc.write_text("[run]\n")
    cmd = [
        sys.executable, "-m", "coverage", "run", f"--rcfile={rc}", f"--data-file={data}", f"--include={module}",
        "-m", "pytest",
        *pytest_args(tests),
    ]  # fmt: skip
    if subprocess.run(cmd, cwd=copy, env=env, capture_output=True).returncode != 0:
        return None
    from coverage import Coverage

    cov = Coverage(data_file=str(data))
    cov.load()
    for f in cov.get_data().measured_files():
        if Path(f).resolve() == (copy / module).resolve():
            return set(cov.get_data().lines(f) or [])
    return set()


@dataclass
class Figures:
    killed: int = 0
    timeout: int = 0
    survived: int = 0
    uncovered: int = 0
    skipped: int = 0
    not_run: int = 0
    incompetent: int = 0

    @property
    def score(self) -> float | None:
        judged = self.killed + self.timeout + self.survived + self.uncovered
        return None if judged == 0 else (self.killed + self.timeout) / judged


def run_module(module: str, spec: Module, copy: Path, args: argparse.Namespace) -> Figures:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

    OUT.mkdir(exist_ok=True)
    name = slug(module)
    session = OUT / f"{name}.sqlite"
    previous = survivors_of(session) if args.survivors else None
    session.unlink(missing_ok=True)
    target = copy / module
    if not target.is_file():
        raise SystemExit(f"{module}: no such file (moved? update MODULES in scripts/mutate.py)")
    shutil.copy2(ROOT / module, target)  # a previous module's killed exec may have left a mutant
    tests = tuple(args.tests) if args.tests else spec.tests
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTEST_XDIST_WORKER", None)

    sock = str(copy / f".mutate-{name}.sock")
    server = None
    if args.cold:
        test_command = shlex.join([sys.executable, "-m", "pytest", *pytest_args(tests)])
    else:
        server = subprocess.Popen(
            [sys.executable, str(copy / "scripts/mutate.py"), "--serve", sock, module],
            cwd=copy,
            env=env,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        assert server.stdout is not None
        server.stdout.readline()  # "ready"
        test_command = shlex.join(
            [sys.executable, str(copy / "scripts/mutate.py"), "--client", sock, "--", *pytest_args(tests)]
        )
    try:
        started = time.monotonic()
        baseline = subprocess.run(shlex.split(test_command), cwd=copy, env=env, capture_output=True)
        base_s = time.monotonic() - started
        if baseline.returncode != 0:
            print(f"{module}: the tests fail without a mutant; fix them first:\n{baseline.stdout.decode()[-3000:]}")
            return Figures()
        timeout = max(10.0, base_s * 3 + 5)
        config = copy / f".mutate-{name}.toml"
        config.write_text(
            "[cosmic-ray]\n"
            f"module-path = {json.dumps(module)}\n"
            f"timeout = {timeout}\n"
            "excluded-modules = []\n"
            f"test-command = {json.dumps(test_command)}\n"
            '[cosmic-ray.distributor]\nname = "local"\n'
            "[cosmic-ray.filters.operators-filter]\n"
            f"exclude-operators = {json.dumps(exclude_operators())}\n"
        )
        crbin = Path(sys.executable).parent
        subprocess.run([crbin / "cosmic-ray", "init", config, session], cwd=copy, env=env, check=True)
        subprocess.run(
            [crbin / "cr-filter-operators", session, config], cwd=copy, env=env, check=True, capture_output=True
        )
        subprocess.run([crbin / "cr-filter-pragma", session], cwd=copy, env=env, check=True, capture_output=True)

        covered = None if args.no_coverage_filter else covered_lines(copy, module, tests, env)
        rng = random.Random(f"mutate/{module}")
        max_mutants = args.max_mutants if args.max_mutants is not None else spec.max_mutants
        with use_db(str(session), WorkDB.Mode.open) as db:
            pending = list(db.pending_work_items)
            spans = annotation_spans(target)
            source_lines = target.read_text().splitlines()
            runnable = []
            for item in pending:
                m = item.mutations[0]
                if in_annotation(spans, m.start_pos, m.end_pos):
                    db.set_result(item.job_id, WorkResult(WorkerOutcome.SKIPPED, output="type annotation"))
                elif is_keyword_only_marker(source_lines, m.operator_name, m.start_pos):
                    db.set_result(item.job_id, WorkResult(WorkerOutcome.SKIPPED, output="keyword-only marker"))
                elif covered is not None and m.start_pos[0] not in covered:
                    db.set_result(
                        item.job_id,
                        WorkResult(WorkerOutcome.NORMAL, output="uncovered", test_outcome=TestOutcome.SURVIVED),
                    )
                else:
                    runnable.append(item)
            if previous is not None:  # --survivors: recheck only what survived last time
                for item in runnable:
                    if mutant_key(item) not in previous:
                        db.set_result(item.job_id, WorkResult(WorkerOutcome.SKIPPED, output="not a previous survivor"))
                runnable = [item for item in runnable if mutant_key(item) in previous]
            if max_mutants is not None and len(runnable) > max_mutants:
                keep = {i.job_id for i in rng.sample(runnable, max_mutants)}
                for item in runnable:
                    if item.job_id not in keep:
                        db.set_result(item.job_id, WorkResult(WorkerOutcome.SKIPPED, output="not sampled"))
            total = db.num_work_items
        budget = args.budget if args.budget is not None else spec.budget_s
        print(f"{module}: {total} mutants, running with {tests} (baseline {base_s:.1f}s, budget {budget}s)", flush=True)
        proc = subprocess.Popen(
            [crbin / "cosmic-ray", "exec", config, session], cwd=copy, env=env, start_new_session=True
        )
        try:
            proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        return report(module, session)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        shutil.copy2(ROOT / module, target)


def mutant_key(item: object) -> tuple[str, int, tuple[int, int]]:
    m = item.mutations[0]  # type: ignore[attr-defined]
    return (m.operator_name, m.occurrence, tuple(m.start_pos))


def survivors_of(session: Path) -> set[tuple[str, int, tuple[int, int]]]:
    """Mutants that survived (or were uncovered) in a previous session of the module."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    if not session.exists():
        raise SystemExit(f"--survivors: no previous session {session}")
    with use_db(str(session), WorkDB.Mode.open) as db:
        done = dict(db.results)
        return {
            mutant_key(item)
            for item in db.work_items
            if (r := done.get(item.job_id)) is not None
            and r.worker_outcome == WorkerOutcome.NORMAL
            and r.test_outcome == TestOutcome.SURVIVED
        }


def report(module: str, session: Path) -> Figures:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    f = Figures()
    survivors = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        done = {job: r for job, r in db.results}
        for item in db.work_items:
            r = done.get(item.job_id)
            if r is None:
                f.not_run += 1
            elif r.worker_outcome == WorkerOutcome.SKIPPED:
                f.skipped += 1
            elif r.worker_outcome != WorkerOutcome.NORMAL:
                f.incompetent += 1
            elif r.test_outcome == TestOutcome.KILLED:
                if r.output == "timeout":
                    f.timeout += 1
                else:
                    f.killed += 1
            elif r.test_outcome == TestOutcome.INCOMPETENT:
                f.incompetent += 1
            elif r.output == "uncovered":
                f.uncovered += 1
                survivors.append((item, "uncovered", r.diff))
            else:
                f.survived += 1
                survivors.append((item, "survived", r.diff))
    lines = []
    for item, why, diff in sorted(survivors, key=lambda s: s[0].mutations[0].start_pos):
        m = item.mutations[0]
        lines.append(f"## {module}:{m.start_pos[0]} {m.operator_name} #{m.occurrence} ({why})\n{diff or ''}\n")
    (OUT / f"{slug(module)}.survivors.txt").write_text("".join(lines))
    score = "n/a" if f.score is None else f"{100 * f.score:.1f}%"
    print(
        f"{module}: killed {f.killed}, timeout {f.timeout}, survived {f.survived}, uncovered {f.uncovered}, "
        f"not run {f.not_run}, skipped {f.skipped}, incompetent {f.incompetent}; score {score}",
        flush=True,
    )
    return f


def main() -> int:
    if len(sys.argv) > 3 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3])
        return 0
    if len(sys.argv) > 2 and sys.argv[1] == "--client":
        return client(sys.argv[2], sys.argv[4:] if sys.argv[3:4] == ["--"] else sys.argv[3:])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("modules", nargs="*", help="module paths (default: every module in MODULES)")
    p.add_argument("--tests", nargs="+", help="test paths instead of the module's mapped ones")
    p.add_argument("--budget", type=int, help="seconds of mutant runs per module (default: per module)")
    p.add_argument("--max-mutants", type=int, help="sample at most this many mutants per module")
    p.add_argument("--cold", action="store_true", help="a fresh interpreter per mutant (no warm fork)")
    p.add_argument("--no-coverage-filter", action="store_true", help="run mutants on uncovered lines too")
    p.add_argument("--report", action="store_true", help="print the figures of the last sessions, run nothing")
    p.add_argument(
        "--survivors", action="store_true", help="rerun only the mutants that survived the module's last session"
    )
    args = p.parse_args()
    modules = args.modules or list(MODULES)
    if args.report:
        for module in modules:
            if (OUT / f"{slug(module)}.sqlite").exists():
                report(module, OUT / f"{slug(module)}.sqlite")
        return 0
    copy = make_copy()
    try:
        results = {}
        for module in modules:
            spec = MODULES.get(module)
            if spec is None and not args.tests:
                raise SystemExit(f"{module}: not in MODULES; pass --tests")
            results[module] = run_module(module, spec or Module(tuple(args.tests)), copy, args)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    print("\nmodule | killed | timeout | survived | uncovered | not run | score")
    for module, f in results.items():
        score = "n/a" if f.score is None else f"{100 * f.score:.1f}%"
        print(f"{module} | {f.killed} | {f.timeout} | {f.survived} | {f.uncovered} | {f.not_run} | {score}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
