"""The ``mbf`` command as scripts use it: real processes, stdout carries only the output."""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from app.logging import configure_logging
from tests.foundation.test_cli_process import MBF, ROOT, _env

PASSWORD = "a long enough password"
TPUB = (
    "wpkh([73c5da0a/84h/1h/0h]tpubDC8msFGeGuwnKG9Upg7DM2b4DaRqg3CUZa5g8v2SRQ6K4NSkxUgd7HsL2XVWbVm39yBA4LAxysQAm397z"
    "wQSQoQgewGiYZqrA9DsP4zbQ1M/0/*)"
)


def mbf(tmp_path: Path, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MBF, *args], input=stdin, capture_output=True, text=True, env=_env(tmp_path, **env), cwd=ROOT, timeout=120
    )


def piped(tmp_path: Path, command: str, jq: str, **env: str) -> str:
    """``mbf <command> | jq <filter>`` through a real shell pipe."""
    mbf_cmd = " ".join(shlex.quote(a) for a in MBF)
    out = subprocess.run(
        f"set -o pipefail; {mbf_cmd} {command} | jq -e -r {shlex.quote(jq)}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        env=_env(tmp_path, **env),
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    return out.stdout.strip()


def test_version(tmp_path: Path) -> None:
    out = mbf(tmp_path, "--version")
    assert out.returncode == 0 and out.stdout.strip() == f"mbf {version('mybitcoinfuture')}"


def test_config_check_has_no_side_effects(tmp_path: Path) -> None:
    out = mbf(tmp_path, "config", "check")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "configuration OK"
    assert "secret.key" in out.stderr  # tells where the key will be and to back it up
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("command", [("config", "check"), ("config", "show"), ("user", "list"), ("serve",)])
def test_unusable_data_dir_is_one_line(tmp_path: Path, command: tuple[str, ...]) -> None:
    out = mbf(tmp_path, *command, MBF_DATA_DIR="/proc/nope")
    if command == ("config", "show"):  # showing the configuration does not need the directory
        assert out.returncode == 0 and json.loads(out.stdout)["data_dir"] == "/proc/nope"
        return
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip().startswith("MBF_")]
    assert len(lines) == 1 and lines[0].strip().startswith("MBF_DATA_DIR: cannot create /proc/nope"), out.stderr
    assert out.stdout == ""


def test_every_bad_field_on_its_own_line(tmp_path: Path) -> None:
    out = mbf(tmp_path, "config", "check", MBF_PORT="abc", MBF_LOG_LEVEL="loud", MBF_ESPLORA_URL="ftp://x")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    bad = sorted(ln.strip().split(":", 1)[0] for ln in out.stderr.splitlines() if ln.startswith("  MBF_"))
    assert bad == ["MBF_ESPLORA_URL", "MBF_LOG_LEVEL", "MBF_PORT"], out.stderr


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("coinbase,kraken", ["coinbase", "kraken"]),
        ("coinbase, kraken ,", ["coinbase", "kraken"]),
        ("coingecko", ["coingecko"]),
        ('["kraken", "bitstamp"]', ["kraken", "bitstamp"]),
    ],
)
def test_list_settings_as_plain_strings(tmp_path: Path, value: str, expected: list[str]) -> None:
    out = mbf(tmp_path, "config", "show", MBF_PRICE_PROVIDERS=value, MBF_CORS_ORIGINS="https://app.example")
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["price_providers"] == expected
    assert shown["cors_origins"] == ["https://app.example"]


def test_bad_json_list_is_one_line(tmp_path: Path) -> None:
    out = mbf(tmp_path, "config", "check", MBF_PRICE_PROVIDERS='["kraken",')
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert any(ln.strip().startswith("MBF_PRICE_PROVIDERS:") for ln in out.stderr.splitlines()), out.stderr


def test_unknown_variables_warned_by_name(tmp_path: Path) -> None:
    out = mbf(tmp_path, "config", "show", MBF_PORTT="9000", MBF_WHATEVER="1")
    assert out.returncode == 0
    assert "MBF_PORTT: unknown setting, ignored; did you mean MBF_PORT?" in out.stderr
    assert "MBF_WHATEVER: unknown setting, ignored" in out.stderr
    json.loads(out.stdout)  # stdout is still only the JSON


def test_log_level_case_insensitive(tmp_path: Path) -> None:
    out = mbf(tmp_path, "config", "show", MBF_LOG_LEVEL="DEBUG", MBF_LOG_FORMAT="JSON", MBF_ENV="Production")
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert (shown["log_level"], shown["log_format"], shown["env"]) == ("debug", "json", "production")


def test_third_party_request_logs_only_at_debug() -> None:
    try:
        configure_logging("info")
        assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
        configure_logging("debug")
        assert logging.getLogger("httpx").isEnabledFor(logging.DEBUG)
    finally:
        configure_logging("warning")


@pytest.mark.timeout(600)  # eleven real CLI processes in a row: a loaded CI machine took over 120 s
def test_user_admin_through_pipes(tmp_path: Path) -> None:
    info = {"MBF_LOG_LEVEL": "info"}  # logs are on: they must all go to stderr
    for email, admin in (("root@example.com", True), ("bob@example.com", False)):
        created = mbf(tmp_path, "user", "create", email, *(["--admin"] if admin else []), "--password-stdin",
                      stdin=PASSWORD + "\n", **info)
        assert created.returncode == 0 and json.loads(created.stdout)["email"] == email, created.stderr
    emails = piped(tmp_path, "user list --json", 'map(.email) | join(",")', **info)
    assert emails == "root@example.com,bob@example.com"

    changed = mbf(tmp_path, "user", "passwd", "bob@example.com", "--password-stdin", stdin="another long password\n")
    assert changed.returncode == 0 and json.loads(changed.stdout) == {"email": "bob@example.com", "sessionsRevoked": 0}
    assert _login_works(tmp_path, "bob@example.com", "another long password")
    short = mbf(tmp_path, "user", "passwd", "bob@example.com", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "12 characters" in short.stderr and short.stdout == ""
    missing = mbf(tmp_path, "user", "passwd", "nobody@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    assert missing.returncode == 2 and "nobody@example.com" in missing.stderr

    last_admin = mbf(tmp_path, "user", "delete", "root@example.com", "--yes")
    assert last_admin.returncode == 2 and "only admin" in last_admin.stderr
    deleted = mbf(tmp_path, "user", "delete", "bob@example.com", "--yes")
    assert deleted.returncode == 0 and json.loads(deleted.stdout)["deleted"] == "bob@example.com"
    assert piped(tmp_path, "user list --json", "length") == "1"


def _login_works(tmp_path: Path, email: str, password: str) -> bool:
    from app.config import Settings
    from app.events.factory import make_hub
    from app.security.crypto import Keyring
    from app.services.accounts import AccountService
    from app.store.db import Store

    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]

    async def login() -> Any:
        store = Store(settings.effective_database_url)
        try:
            accounts = AccountService(store, Keyring.from_settings(settings), settings, make_hub(settings, store))
            return await accounts.login(email, password, None)
        finally:
            await store.dispose()

    return bool(asyncio.run(login()).token)


def test_wallet_delete_and_json_through_jq(tmp_path: Path) -> None:
    assert mbf(tmp_path, "user", "create", "w@example.com", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    wallet_id = piped(
        tmp_path, f"wallet import --user w@example.com --name cold --network regtest --json {shlex.quote(TPUB)}", ".id",
        MBF_LOG_LEVEL="info",
    )
    assert wallet_id
    refused = mbf(tmp_path, "wallet", "delete", wallet_id, "--user", "someone@example.com", "--yes")
    assert refused.returncode == 2
    out = mbf(tmp_path, "wallet", "delete", wallet_id, "--user", "w@example.com", "--yes")
    assert out.returncode == 0 and json.loads(out.stdout) == {"deleted": wallet_id}, out.stderr
    again = mbf(tmp_path, "wallet", "delete", wallet_id, "--user", "w@example.com", "--yes")
    assert again.returncode == 2 and "error" in again.stderr


def test_report_generate(tmp_path: Path) -> None:
    assert mbf(tmp_path, "user", "create", "r@example.com", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    target = tmp_path / "out" / "report.pdf"
    out = mbf(tmp_path, "report", "generate", "--user", "r@example.com", "--output", str(target), "--format", "pdf")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["output"] == str(target) and summary["mediaType"] == "application/pdf"
    assert target.read_bytes().startswith(b"%PDF") and summary["bytes"] == target.stat().st_size
    bad = mbf(tmp_path, "report", "generate", "--user", "r@example.com", "-o", str(target), "--timeframe", "forever")
    assert bad.returncode == 2 and "timeframe" in bad.stderr
    # a tax year (the user's fiscal-year start; calendar year by default) instead of a timeframe
    target = tmp_path / "out" / "tax-2024.json"
    out = mbf(tmp_path, "report", "generate", "--user", "r@example.com", "-o", str(target), "--format", "json",
              "--tax-year", "2024", "--method", "hifo")  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(target.read_text())
    assert doc["title"] == "Bitcoin portfolio report, tax year 2024" and doc["costBasis"]["method"] == "HIFO"
    assert (doc["period"]["from"], doc["period"]["to"]) == ("2024-01-01", "2024-12-31")
    bad = mbf(tmp_path, "report", "generate", "--user", "r@example.com", "-o", str(target), "--tax-year", "2100")
    assert bad.returncode == 2 and "period.taxYear" in bad.stderr
