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
  outside ``app/store`` and migrations (``ALLOWED_SQL_TEXT``: database-level locks, not tables).
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
