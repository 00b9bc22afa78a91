"""Configuration checks that change nothing: ``mbf config check`` and start-up warnings.

``load_settings`` validates values; these checks look at the environment around them (the data
directory can be created, the key can be read, no ``MBF_`` variable is misspelt) without creating
the data directory or generating ``secret.key``.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from app.config import FILE_BACKED, ConfigError, Settings

KEY_FILE_NAME = "secret.key"  # app.security.crypto.KEY_FILE_NAME (not imported: no crypto needed here)


def known_variables() -> set[str]:
    names = {f"MBF_{name.upper()}" for name in Settings.model_fields}
    names |= {f"MBF_{name.upper()}_FILE" for name in FILE_BACKED}
    return names


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """One warning per ``MBF_`` variable that no setting reads (a typo is silently ignored otherwise)."""
    env = os.environ if environ is None else environ
    known = known_variables()
    out = []
    for name in sorted(k for k in env if k.upper().startswith("MBF_")):
        if name.upper() in known:
            continue
        close = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]}?" if close else ""
        out.append(f"{name}: unknown setting, ignored{hint}")
    return out


def data_dir_problem(path: Path) -> str | None:
    """Why ``path`` cannot be the data directory, or None. Leaves nothing behind."""
    path = path.expanduser()
    if path.exists():
        if not path.is_dir():
            return f"{path} exists and is not a directory"
        probe_in = path
    else:
        probe_in = path.parent
        while not probe_in.exists() and probe_in != probe_in.parent:
            probe_in = probe_in.parent
        if not probe_in.is_dir():
            return f"cannot create {path}: {probe_in} is not a directory"
    try:
        # The real operation (os.access is wrong for root and for special file systems such as /proc).
        probe = tempfile.mkdtemp(prefix=".mbf-check-", dir=probe_in)
        os.rmdir(probe)
    except OSError as exc:
        verb = "cannot write to" if probe_in == path else "cannot create"
        return f"{verb} {path}: {exc.strerror}"
    return None


def ensure_data_dir(settings: Settings) -> None:
    """Create the data directory, or raise :class:`ConfigError` in the one-line-per-field form."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"Invalid configuration:\n  MBF_DATA_DIR: cannot create {settings.data_dir}: {exc.strerror}"
        ) from None
    problem = data_dir_problem(settings.data_dir)
    if problem:
        raise ConfigError(f"Invalid configuration:\n  MBF_DATA_DIR: {problem}")


def check(settings: Settings) -> tuple[list[str], list[str]]:
    """(errors, notes) about ``settings``; every error is ``MBF_<FIELD>: why`` on one line."""
    errors: list[str] = []
    notes: list[str] = []
    problem = data_dir_problem(settings.data_dir)
    if problem:
        errors.append(f"MBF_DATA_DIR: {problem}")
    if settings.secret_key is not None:
        if not settings.secret_key.get_secret_value().strip():
            errors.append("MBF_SECRET_KEY: is empty")
    elif settings.secret_key_file is not None:
        try:
            if not settings.secret_key_file.read_text().strip():
                errors.append(f"MBF_SECRET_KEY_FILE: {settings.secret_key_file} is empty")
        except OSError as exc:
            errors.append(f"MBF_SECRET_KEY_FILE: cannot read {settings.secret_key_file}: {exc.strerror}")
    else:
        key = settings.data_dir / KEY_FILE_NAME
        if key.exists():
            try:
                if not key.read_text().strip():
                    errors.append(f"MBF_DATA_DIR: {key} is empty (restore it from your backup)")
            except OSError as exc:
                errors.append(f"MBF_DATA_DIR: cannot read {key}: {exc.strerror}")
        else:
            notes.append(
                f"no secret key yet: the server will generate {key} on first start; back it up with the database "
                "(without it stored descriptors and macaroons cannot be read)"
            )
    if settings.is_production and settings.metrics_port is None and settings.metrics_token is None:
        notes.append("/metrics is refused in production until MBF_METRICS_TOKEN or MBF_METRICS_PORT is set")
    return errors, notes
