"""The import rules of docs/architecture.md, checked on the source (a new violation fails here).

- ``app/`` never imports ``schema``, ``resolvers`` or ``subscriptions``; only the composition
  root (``app/main.py``, ``app/http/graphql.py``, ``app/graphql_schema.py``, ``app/cli/main.py``
  for the SDL export) does.
- The GraphQL layer's arrows point one way: ``resolvers`` and ``subscriptions`` import ``schema``,
  which imports neither; they do not import each other (``build_schema`` assembles them).
- Field resolvers live next to their types: ``resolvers/`` defines only root types (``<Area>Query``,
  ``<Area>Mutation``), ``subscriptions/live.py`` the ``Subscription`` root; ``schema/`` no root type.
- ``app/bitcoin`` and ``app/analytics`` are pure: no store, network, events or services.
- ``schema``, ``resolvers`` and ``subscriptions`` reach tables only through services (no
  ``app.store.models`` or ``app.store.db``; ``app.store.paging``'s cursor helpers are fine): the
  GraphQL types are built from the services' views, never from table rows.
- A service area reads another area's tables only through that area's API: no ``sa.text``
  outside ``app/store`` and migrations (``ALLOWED_SQL_TEXT``: database-level locks, not tables),
  and no module imports a table model that ``TABLE_AREA`` gives to another area (``AREAS`` says
  which modules make up an area; a module in none, such as the CLI, imports no table model).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPOSITION_ROOT = {"app/main.py", "app/http/graphql.py", "app/graphql_schema.py", "app/cli/main.py"}
# Who may not import whom inside the GraphQL layer (the arrows point one way, down to schema/).
NOT_IMPORTED_BY = {
    "schema": ("resolvers", "subscriptions"),
    "resolvers": ("subscriptions",),
    "subscriptions": ("resolvers",),
}
PURE = ("app/bitcoin", "app/analytics")
IMPURE = ("app.store", "app.chain", "app.events", "app.services", "app.sync", "app.lightning", "httpx", "sqlalchemy")
ROWS_IN_SCHEMA: set[str] = set()  # GraphQL modules still built from table rows: none
ALLOWED_SQL_TEXT = {"app/services/accounts.py"}  # pg_advisory_xact_lock


# Who owns which table: only that area's modules import its model (others call the area's API).
AREAS = {
    "accounts": (
        "app/services/accounts.py",
        "app/services/api_keys.py",
        "app/services/audit.py",
        "app/services/second_factor.py",
        "app/services/session_cache.py",
        "app/services/session_touches.py",
        "app/services/user_admin.py",
    ),
    "sync": ("app/sync/",),
    "wallets": ("app/services/wallets.py", "app/services/wallet_keys.py"),
    "lightning": ("app/services/lightning.py", "app/services/lightning_"),
    "portfolios": ("app/services/portfolios.py", "app/services/portfolios_", "app/services/tax_settings.py"),
    "prices": ("app/services/prices.py",),
    "reports": ("app/services/reports.py",),
    "spend": ("app/spend/",),
    "events": ("app/events/",),
    "keystore": ("app/security/keystore.py",),
}
TABLE_AREA = {
    **dict.fromkeys(("users", "auth_sessions", "recovery_codes", "api_keys", "invitations", "audit_log"), "accounts"),
    **dict.fromkeys(("wallet_txs", "wallet_outputs", "wallet_scripts", "wallet_sync_state", "sync_jobs"), "sync"),
    **dict.fromkeys(("wallets", "wallet_addresses", "wallet_labels"), "wallets"),
    **dict.fromkeys(("portfolios", "portfolio_wallets", "cost_overrides", "tax_settings"), "portfolios"),
    "lightning_nodes": "lightning",
    "prices": "prices",
    "reports": "reports",
    "psbt_drafts": "spend",
    "events": "events",
    "key_store": "keystore",
}
# (module, table) pairs allowed to read another area's table model: none (wallets' reveal hook reads
# the scripts through ``app.sync.queries.script_stats_in``, in sync's write transaction).
FOREIGN_TABLES: set[tuple[str, str]] = set()


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _files(*dirs: str) -> list[tuple[str, Path]]:
    paths = [p for d in dirs for p in sorted((ROOT / d).rglob("*.py")) if "_vendor" not in p.parts]
    return [(str(p.relative_to(ROOT)), p) for p in paths]


def _under(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_app_never_imports_the_graphql_layer() -> None:
    bad = [
        (rel, name)
        for rel, path in _files("app")
        if rel not in COMPOSITION_ROOT
        for name in _imports(path)
        if _under(name, "schema", "resolvers", "subscriptions")
    ]
    assert bad == []


def test_the_graphql_layer_points_one_way() -> None:
    bad = [
        (rel, name)
        for package, banned in NOT_IMPORTED_BY.items()
        for rel, path in _files(package)
        for name in _imports(path)
        if _under(name, *banned)
    ]
    assert bad == []


def _strawberry_classes(path: Path) -> list[str]:
    """Classes decorated ``@strawberry.type`` / ``.interface`` / ``.input`` (with or without arguments)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ClassDef):
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "strawberry"
                    and target.attr in ("type", "interface", "input")
                ):
                    names.append(node.name)
    return names


def test_field_resolvers_live_next_to_their_types() -> None:
    root = ("Query", "Mutation", "Subscription")
    not_roots = [
        (rel, name)
        for rel, path in _files("resolvers")
        for name in _strawberry_classes(path)
        if not name.endswith(("Query", "Mutation"))
    ]
    assert not_roots == []  # an object type and its field resolvers belong in schema/types/<area>.py
    roots_elsewhere = [
        (rel, name)
        for rel, path in _files("schema", "subscriptions")
        if rel != "subscriptions/live.py"
        for name in _strawberry_classes(path)
        if name.endswith(root)
    ]
    assert roots_elsewhere == []  # root fields belong in resolvers/<area>.py (subscriptions: live.py)
    assert _strawberry_classes(ROOT / "subscriptions/live.py") == ["LiveSubscription"]


def test_pure_packages_do_no_io() -> None:
    bad = [(rel, name) for rel, path in _files(*PURE) for name in _imports(path) if _under(name, *IMPURE)]
    assert bad == []


def test_the_graphql_layer_reaches_tables_only_through_services() -> None:
    files = _files("schema", "resolvers", "subscriptions")
    assert "schema/types/sync.py" in dict(files)  # the walk sees the type modules
    bad = [
        (rel, name)
        for rel, path in files
        if rel not in ROWS_IN_SCHEMA
        for name in _imports(path)
        if _under(name, "app.store.models", "app.store.db")
    ]
    assert bad == []


def test_no_sql_text_outside_the_store() -> None:
    bad = [
        rel
        for rel, path in _files("app", "schema", "resolvers", "subscriptions")
        if not rel.startswith("app/store/") and rel not in ALLOWED_SQL_TEXT and "sa.text(" in path.read_text()
    ]
    assert bad == []


def _table_names() -> dict[tuple[str, str], str]:
    """(model module, class name) -> table name, for every table model."""
    import importlib
    import pkgutil

    import app.store.models as models

    out: dict[tuple[str, str], str] = {}
    for info in pkgutil.iter_modules(models.__path__):
        module = importlib.import_module(f"app.store.models.{info.name}")
        for name, obj in vars(module).items():
            table = getattr(obj, "__tablename__", None)
            if isinstance(obj, type) and isinstance(table, str) and obj.__module__ == module.__name__:
                out[(module.__name__, name)] = table
    return out


def _area(rel: str) -> str | None:
    return next((area for area, prefixes in AREAS.items() if rel.startswith(prefixes)), None)


def test_every_table_has_an_owning_area() -> None:
    assert sorted(set(_table_names().values()) - set(TABLE_AREA)) == []
    assert set(TABLE_AREA.values()) <= set(AREAS)


def test_an_area_imports_only_its_own_table_models() -> None:
    tables = _table_names()
    seen: set[tuple[str, str]] = set()
    bad = []
    for rel, path in _files("app"):
        if rel.startswith("app/store/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("app.store.models"):
                for alias in node.names:
                    table = tables.get((node.module, alias.name))
                    if table is None:
                        continue  # a constant or helper, not a table
                    seen.add((rel, table))
                    if TABLE_AREA[table] != _area(rel) and (rel, table) not in FOREIGN_TABLES:
                        bad.append((rel, table))
    assert bad == []
    assert FOREIGN_TABLES - seen == set()  # an exception that no longer happens leaves the list


# Public service methods that hand out a table row, for their own area's modules only.
ROWS_RETURNED = {("app/services/lightning.py", "stored_node")}  # lightning_backups/macaroons read the secrets


def test_services_return_views_not_table_rows() -> None:
    """Public methods of the service classes hand out views, not SQLModel rows."""
    import re

    models = {name for (_, name) in _table_names()}
    seen, bad = set(), []
    for rel, path in _files("app/services", "app/sync", "app/spend"):
        classes = [n for n in ast.walk(ast.parse(path.read_text(), str(path))) if isinstance(n, ast.ClassDef)]
        for method in (m for c in classes for m in c.body if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef)):
            public = method.returns is not None and not method.name.startswith("_")
            if public and set(re.findall(r"[A-Za-z_]+", ast.unparse(method.returns))) & models:
                seen.add((rel, method.name))
                if (rel, method.name) not in ROWS_RETURNED:
                    bad.append((rel, method.name))
    assert bad == []
    assert ROWS_RETURNED - seen == set()  # an exception that no longer happens leaves the list
