"""Query limits computed in one pass over the document: depth, aliases, directives, duplicated
fields, cost and input sizes.

Each fragment is analysed once and its figures are reused at every spread, so the work is linear
in the size of the document. (Strawberry's ``QueryDepthLimiter`` and ``MaxAliasesLimiter`` re-walk
a fragment at every spread: a 917-byte fragment bomb kept them busy for 28 s.) The checks run
before graphql-core's own validation, so a refused document is never validated or executed.

Cost model: every field costs 1; a list field multiplies the cost of its selection by the page
size that applies to it (the ``first``/``last`` argument of the field or of the connection that
holds it, else ``default_list_size``). Introspection lists are not multiplied (the schema is
small) but may nest at most :data:`MAX_INTROSPECTION_LISTS` deep (no circular introspection).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    Node,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_introspection_type,
    value_from_ast_untyped,
)
from graphql.type import GraphQLInputType
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef
from strawberry.extensions import SchemaExtension

from schema.input_limits import max_length_for

# Costs are saturated here: a fragment bomb's 2**200 is refused just the same, without big numbers.
_SATURATE = 10**12
MAX_INTROSPECTION_LISTS = 3
PAGE_ARGUMENTS = ("first", "last")


@dataclass(frozen=True)
class QueryLimitSettings:
    max_depth: int = 12
    max_aliases: int = 30
    max_cost: int = 20_000
    default_list_size: int = 20
    max_directives_per_field: int = 4
    max_duplicate_fields: int = 5


@dataclass
class Figures:
    """What a selection set (or a fragment) adds wherever it appears."""

    depth: int = 0
    aliases: int = 0
    cost: int = 0
    introspection_lists: int = 0

    def add(self, other: Figures) -> None:
        self.depth = max(self.depth, other.depth)
        self.aliases = min(self.aliases + other.aliases, _SATURATE)
        self.cost = min(self.cost + other.cost, _SATURATE)
        self.introspection_lists = max(self.introspection_lists, other.introspection_lists)


@dataclass
class Analysis:
    figures: Figures
    errors: list[GraphQLError] = field(default_factory=list)


def _error(
    message: str, node: Node | None = None, field_name: str | None = None, hint: str | None = None
) -> GraphQLError:
    ext: dict[str, Any] = {"code": "BAD_USER_INPUT"}
    if field_name:
        ext["field"] = field_name
    if hint:
        ext["hint"] = hint
    return GraphQLError(message, [node] if node is not None else None, extensions=ext)


class _Analyser:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: Mapping[str, Any] | None,
        limits: QueryLimitSettings,
    ) -> None:
        self.schema = schema
        self.limits = limits
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.memo: dict[str, Figures] = {}
        self.in_progress: set[str] = set()
        self.errors: list[GraphQLError] = []
        self.checked_variables: set[tuple[str, str]] = set()
        self.variables: dict[str, Any] = {}
        for d in document.definitions:
            if isinstance(d, OperationDefinitionNode):
                for vd in d.variable_definitions or ():
                    if vd.default_value is not None:
                        self.variables.setdefault(vd.variable.name.value, value_from_ast_untyped(vd.default_value))
        self.variables.update(variables or {})
        self._reported: set[str] = set()

    def _report_once(self, key: str, error: GraphQLError) -> None:
        if key not in self._reported:
            self._reported.add(key)
            self.errors.append(error)

    # Selections ---------------------------------------------------------------------------

    def selection_set(
        self, node: SelectionSetNode | None, parent: GraphQLNamedType | None, page: int | None
    ) -> Figures:
        total = Figures()
        if node is None:
            return total
        keys: Counter[str] = Counter()
        for sel in node.selections:
            if len(sel.directives or ()) > self.limits.max_directives_per_field:
                self._report_once(
                    "directives",
                    _error(
                        f"Too many directives on one selection (at most {self.limits.max_directives_per_field}).",
                        sel,
                    ),
                )
            if isinstance(sel, FieldNode):
                key = (sel.alias or sel.name).value
                keys[key] += 1
                if keys[key] == self.limits.max_duplicate_fields + 1:
                    self._report_once(
                        "duplicates",
                        _error(
                            f"Field '{key}' is selected more than {self.limits.max_duplicate_fields} times "
                            "in one selection set.",
                            sel,
                        ),
                    )
                total.add(self.field(sel, parent, page))
            elif isinstance(sel, InlineFragmentNode):
                cond = self.schema.get_type(sel.type_condition.name.value) if sel.type_condition else parent
                total.add(self.selection_set(sel.selection_set, cond, page))
            elif isinstance(sel, FragmentSpreadNode):
                total.add(self.fragment(sel.name.value))
        return total

    def fragment(self, name: str) -> Figures:
        if name in self.memo:
            return self.memo[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.in_progress:
            return Figures()  # unknown or circular: graphql-core's validation reports it
        self.in_progress.add(name)
        cond = self.schema.get_type(definition.type_condition.name.value)
        figures = self.selection_set(definition.selection_set, cond, None)
        self.in_progress.discard(name)
        self.memo[name] = figures
        return figures

    def field(self, node: FieldNode, parent: GraphQLNamedType | None, page: int | None) -> Figures:
        name = node.name.value
        field_def = None
        if name == "__schema":
            field_def = SchemaMetaFieldDef
        elif name == "__type":
            field_def = TypeMetaFieldDef
        elif isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            field_def = parent.fields.get(name)
        own_page: int | None = None
        for arg in node.arguments or ():
            arg_def = field_def.args.get(arg.name.value) if field_def else None
            if arg_def is not None:
                self.check_argument(arg, arg_def.type)
            if arg.name.value in PAGE_ARGUMENTS:
                own_page = self._int(arg)
        return_type = field_def.type if field_def else None
        named = get_named_type(return_type) if return_type is not None else None
        introspection = name.startswith("__") or (parent is not None and is_introspection_type(parent))
        is_list = return_type is not None and isinstance(get_nullable_type(return_type), GraphQLList)
        children = self.selection_set(node.selection_set, named, None if is_list else own_page)
        out = Figures(aliases=min(children.aliases + (1 if node.alias else 0), _SATURATE))
        if introspection:
            out.cost = min(1 + children.cost, _SATURATE)
            out.introspection_lists = children.introspection_lists + (1 if is_list else 0)
        else:
            out.depth = 1 + children.depth if node.selection_set else 0
            multiplier = 1
            if is_list:
                size = own_page if own_page is not None else page
                multiplier = size if size is not None else self.limits.default_list_size
            out.cost = min(1 + max(multiplier, 0) * children.cost, _SATURATE)
            out.introspection_lists = children.introspection_lists
        return out

    def _int(self, arg: ArgumentNode) -> int | None:
        value = arg.value
        if isinstance(value, IntValueNode):
            raw: Any = value.value
        elif isinstance(value, VariableNode):
            raw = self.variables.get(value.name.value)
        else:
            return None
        try:
            return max(0, min(int(raw), _SATURATE)) if raw is not None and not isinstance(raw, bool) else None
        except (TypeError, ValueError):
            return None

    # Input sizes ---------------------------------------------------------------------------

    def check_argument(self, arg: ArgumentNode, type_: GraphQLInputType) -> None:
        self._check_node(arg.value, type_, arg.name.value)

    def _check_node(self, value: Node, type_: GraphQLInputType | GraphQLNamedType | None, name: str) -> None:
        named = get_named_type(type_) if type_ is not None else None
        if isinstance(value, StringValueNode):
            self._check_length(value.value, name, value)
        elif isinstance(value, ListValueNode):
            for item in value.values:
                self._check_node(item, named, name)
        elif isinstance(value, ObjectValueNode):
            fields = named.fields if isinstance(named, GraphQLInputObjectType) else {}
            for f in value.fields:
                fdef = fields.get(f.name.value)
                self._check_node(f.value, fdef.type if fdef else None, f.name.value)
        elif isinstance(value, VariableNode):
            key = (value.name.value, name)
            if key not in self.checked_variables:
                self.checked_variables.add(key)
                self._check_value(self.variables.get(value.name.value), named, name, value)

    def _check_value(self, value: Any, named: GraphQLNamedType | None, name: str, node: Node) -> None:
        if isinstance(value, str):
            self._check_length(value, name, node)
        elif isinstance(value, list):
            for item in value:
                self._check_value(item, named, name, node)
        elif isinstance(value, dict):
            fields = named.fields if isinstance(named, GraphQLInputObjectType) else {}
            for key, item in value.items():
                fdef = fields.get(key)
                self._check_value(item, get_named_type(fdef.type) if fdef else None, str(key), node)

    def _check_length(self, value: str, name: str, node: Node) -> None:
        if "\x00" in value:  # PostgreSQL cannot store it; no input has a use for it
            self._report_once(
                f"nul:{name}", _error(f"Argument '{name}' contains a NUL character (U+0000).", node, name)
            )
        limit = max_length_for(name)
        if len(value) > limit:
            self._report_once(
                f"length:{name}",
                _error(
                    f"Argument '{name}' is too long: {len(value)} characters, at most {limit}.",
                    node,
                    name,
                ),
            )


def analyse(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None,
    limits: QueryLimitSettings,
) -> Analysis:
    """Figures of the most expensive operation of ``document`` and every limit it breaks."""
    analyser = _Analyser(schema, document, variables, limits)
    worst = Figures()
    roots: dict[str, GraphQLObjectType | None] = {
        "query": schema.query_type,
        "mutation": schema.mutation_type,
        "subscription": schema.subscription_type,
    }
    for d in document.definitions:
        if isinstance(d, OperationDefinitionNode):
            f = analyser.selection_set(d.selection_set, roots.get(d.operation.value), None)
        elif isinstance(d, FragmentDefinitionNode):
            f = analyser.fragment(d.name.value)  # unused fragments too: validation walks them
        else:
            continue
        worst.depth = max(worst.depth, f.depth)
        worst.aliases = max(worst.aliases, f.aliases)
        worst.cost = max(worst.cost, f.cost)
        worst.introspection_lists = max(worst.introspection_lists, f.introspection_lists)
    errors = analyser.errors
    if worst.depth > limits.max_depth:
        errors.append(_error(f"The query is too deep: depth {worst.depth}, at most {limits.max_depth}."))
    if worst.aliases > limits.max_aliases:
        errors.append(_error(f"The query uses {worst.aliases} aliases; at most {limits.max_aliases} are allowed."))
    if worst.introspection_lists > MAX_INTROSPECTION_LISTS:
        errors.append(_error("The introspection query nests too many lists (circular introspection)."))
    if worst.cost > limits.max_cost:
        errors.append(
            _error(
                f"The query's cost is {worst.cost}, over the budget of {limits.max_cost}.",
                hint="Ask for fewer items per page (first), fewer nested lists or fewer aliases.",
            )
        )
    return Analysis(worst, errors)


@dataclass
class CostMeter:
    """Counts analysed operations and their cost: the hook a metrics exporter reads."""

    operations: int = 0
    refused: int = 0
    total_cost: int = 0
    max_cost: int = 0
    # Upper bounds of the cost buckets (Prometheus-style, cumulative when exported).
    buckets: tuple[int, ...] = (10, 100, 1_000, 10_000, 100_000)
    bucket_counts: list[int] = field(default_factory=lambda: [0] * 6)
    # Called with every observation (the app wires its Prometheus metrics here; the schema knows none).
    listener: Callable[[int, bool], None] | None = None

    def observe(self, cost: int, refused: bool) -> None:
        if self.listener is not None:
            self.listener(cost, refused)
        self.operations += 1
        self.refused += int(refused)
        self.total_cost += cost
        self.max_cost = max(self.max_cost, cost)
        index = next((i for i, bound in enumerate(self.buckets) if cost <= bound), len(self.buckets))
        self.bucket_counts[index] += 1


class QueryLimits(SchemaExtension):
    """Runs :func:`analyse` before validation; refusals replace validation, the cost goes to ``extensions``."""

    def __init__(self, limits: QueryLimitSettings, meter: CostMeter) -> None:
        self.limits = limits
        self.meter = meter
        self.cost: int | None = None

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.graphql_document is not None and ctx.pre_execution_errors is None:
            analysis = analyse(ctx.schema._schema, ctx.graphql_document, ctx.variables, self.limits)
            self.cost = analysis.figures.cost
            self.meter.observe(self.cost, bool(analysis.errors))
            if analysis.errors:
                ctx.pre_execution_errors = analysis.errors
        yield

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        return {"cost": {"requested": self.cost, "budget": self.limits.max_cost}}
