"""``mbf migrate``: an operator rolls the newest migration back and forward again (a real process
per command, a fresh SQLite database in the data directory)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from app.store import migrate
from tests.foundation.test_cli_process import MBF, ROOT, _env


def _mbf(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MBF, *args], capture_output=True, text=True, env=_env(tmp_path), cwd=ROOT, timeout=180)


def _current(tmp_path: Path) -> dict[str, object]:
    out = _mbf(tmp_path, "migrate", "current")
    assert out.returncode == 0, out.stderr
    body: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return body


@pytest.mark.timeout(600)  # five real CLI processes: a loaded machine took over 120 s
def test_downgrade_one_step_then_upgrade_back_to_head(tmp_path: Path) -> None:
    (head,) = migrate.head_revisions()
    up = _mbf(tmp_path, "migrate", "upgrade")
    assert up.returncode == 0, up.stderr
    assert up.stdout.strip().splitlines()[-1] == "upgraded to heads"
    assert _current(tmp_path) == {"current": [head], "heads": [head], "atHead": True}

    down = _mbf(tmp_path, "migrate", "downgrade", "-1")
    assert down.returncode == 0, down.stderr
    assert down.stdout.strip().splitlines()[-1] == "downgraded to -1"
    after_down = _current(tmp_path)
    assert after_down["atHead"] is False and after_down["heads"] == [head]
    assert after_down["current"] and after_down["current"] != [head]

    # the server refuses nothing here: `mbf migrate upgrade` brings it back
    assert _mbf(tmp_path, "migrate", "upgrade", head).returncode == 0
    assert _current(tmp_path)["atHead"] is True


@pytest.mark.timeout(600)
def test_downgrade_to_an_unknown_revision_fails_without_changing_the_database(tmp_path: Path) -> None:
    assert _mbf(tmp_path, "migrate", "upgrade").returncode == 0
    before = _current(tmp_path)
    bad = _mbf(tmp_path, "migrate", "downgrade", "no-such-revision")
    assert bad.returncode != 0
    assert "downgraded" not in bad.stdout
    assert _current(tmp_path) == before
