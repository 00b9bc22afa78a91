"""Owner-only permissions for everything the server keeps on disk.

The data directory holds the SQLite database (and its WAL/SHM files), the secret key and the
report files: together they reveal a user's whole financial history. The CLI entry sets the
process umask to 077 (new files 0600, directories 0700); :func:`secure_data_dir` tightens what
an earlier version or an operator left group/world-accessible, and says so.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import structlog

from app.config import ConfigError, Settings

log = structlog.get_logger(__name__)

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def set_private_umask() -> int:
    """Called by the CLI entry (not at import): files created from now on are owner-only."""
    return os.umask(PRIVATE_UMASK)


def sqlite_path(database_url: str) -> Path | None:
    prefix = "sqlite+aiosqlite:///"
    if not database_url.startswith(prefix) or ":memory:" in database_url:
        return None
    return Path(database_url[len(prefix) :].split("?", 1)[0])


def secure_data_dir(settings: Settings) -> list[Path]:
    """Create the data directory 0700 and tighten every too-open path in it; returns what changed."""
    data_dir = settings.data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    except OSError as exc:
        raise ConfigError(f"MBF_DATA_DIR: cannot create {data_dir}: {exc.strerror}") from exc
    paths = [data_dir, *_walk(data_dir)]
    db = sqlite_path(settings.effective_database_url)
    if db is not None and data_dir.resolve() not in db.resolve().parents:
        paths += [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}-journal")) if p.exists()]
    changed: list[Path] = []
    for path in paths:
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode) or not st.st_mode & 0o077:
            continue
        want = DIR_MODE if stat.S_ISDIR(st.st_mode) else FILE_MODE
        try:
            path.chmod(want)
            changed.append(path)
        except OSError as exc:
            log.warning("data_path_too_open", path=str(path), mode=oct(stat.S_IMODE(st.st_mode)), error=exc.strerror)
    if changed:
        log.warning("data_permissions_tightened", paths=[str(p) for p in changed][:20], count=len(changed))
    return changed


def _walk(root: Path) -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        out += [base / d for d in dirnames]
        out += [base / f for f in filenames]
    return out
