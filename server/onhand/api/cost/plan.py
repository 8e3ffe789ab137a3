"""An operation's cost, as Shopify's Admin API calculates it: an object costs 1, a scalar or
an enum 0, a connection its page size (`first`, else `last`, else the default page size) times
what each of its nodes or edges selects, a mutation a fixed base plus what its payload
selects. Fragments count where they are spread, and every type condition as if it applied,
so the requested cost is an upper bound.

A document's plan is made once per document text (and operation name) and cached: a request
then only evaluates it with its variables, which for a document without variable page sizes
is a number folded in advance. The actual cost walks the plan with the returned data: the
real number of nodes per connection, nothing for an object returned null.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    VariableNode,
    get_named_type,
    is_composite_type,
)

# The fields of a connection that hold one entry per item on the page.
PER_ITEM = frozenset({"nodes", "edges"})
PAGE_ARGUMENTS = ("first", "last")


@dataclass(frozen=True, slots=True)
class PageSize:
    """A connection's page size: a number, or a variable's (`fallback` when it is null)."""

    fixed: int
    variable: str | None = None


@dataclass(frozen=True, slots=True)
class FieldCost:
    key: str  # the field's response key (its alias, else its name)
    own: int  # 1 for an object, the base for a mutation
    children: tuple[FieldCost, ...]
    page: PageSize | None = None  # a connection's page size
    per_item: bool = False  # the nodes or edges of a connection: once per item
    mutation: bool = False


@dataclass(frozen=True, slots=True)
class Sizes:
    default: int
    maximum: int

    def of(self, page: PageSize, variables: Mapping[str, Any]) -> int:
        value: Any = page.fixed
        if page.variable is not None:
            given = variables.get(page.variable)
            value = given if isinstance(given, int) and not isinstance(given, bool) else value
        return max(0, min(int(value), self.maximum))


class Plan:
    """What one operation of a document costs."""

    def __init__(self, fields: tuple[FieldCost, ...], sizes: Sizes) -> None:
        self.fields = fields
        self.sizes = sizes
        self.variable = any(_has_variable_page(field) for field in fields)
        self.fixed = None if self.variable else self._requested(fields, {})

    def requested(self, variables: Mapping[str, Any] | None) -> int:
        if self.fixed is not None:
            return self.fixed
        return self._requested(self.fields, variables or {})

    def _requested(self, fields: tuple[FieldCost, ...], variables: Mapping[str, Any]) -> int:
        total = 0
        for field in fields:
            once = sum(self._requested((c,), variables) for c in field.children if not c.per_item)
            each = sum(self._requested((c,), variables) for c in field.children if c.per_item)
            size = self.sizes.of(field.page, variables) if field.page is not None else 1
            total += field.own + once + size * each
        return total

    def actual(self, data: Mapping[str, Any] | None) -> int:
        """The cost of what was returned: connections by their real number of items."""
        if data is None:
            return 0
        return _within(self.fields, data)


def _has_variable_page(field: FieldCost) -> bool:
    if field.page is not None and field.page.variable is not None:
        return True
    return any(_has_variable_page(child) for child in field.children)


def _within(fields: tuple[FieldCost, ...], data: Mapping[str, Any]) -> int:
    total = 0
    for field in fields:
        value = data.get(field.key)
        if field.per_item:
            total += sum(_object(field, item) for item in value or () if isinstance(item, dict))
        else:
            total += _value(field, value)
    return total


def _value(field: FieldCost, value: Any) -> int:
    if isinstance(value, dict):
        return _object(field, value)
    if isinstance(value, list):
        # A plain list is counted as one object, as in the requested cost: its largest item.
        items = [_within(field.children, item) for item in value if isinstance(item, dict)]
        return field.own + max(items, default=0)
    return field.own if field.mutation else 0  # null: nothing was returned


def _object(field: FieldCost, value: Mapping[str, Any]) -> int:
    return field.own + _within(field.children, value)


class Planner:
    """Plans per (document text, operation name), the most recent `size` of them kept."""

    def __init__(self, sizes: Sizes, mutation_cost: int, size: int) -> None:
        self.sizes = sizes
        self.mutation_cost = mutation_cost
        self.size = size
        self._plans: OrderedDict[tuple[str, str | None], Plan] = OrderedDict()

    def plan(
        self,
        schema: GraphQLSchema,
        query: str,
        document: DocumentNode,
        operation_name: str | None,
    ) -> Plan:
        key = (query, operation_name)
        found = self._plans.get(key)
        if found is not None:
            self._plans.move_to_end(key)
            return found
        made = _Compiler(self, schema, document).operation(operation_name)
        self._plans[key] = made
        if len(self._plans) > self.size:
            self._plans.popitem(last=False)
        return made


class _Compiler:
    """Turns a validated document's operation into its FieldCosts. Anything it cannot place
    (an unknown field or type: the validation refused the document then) costs nothing."""

    def __init__(self, planner: Planner, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema = schema
        self.sizes = planner.sizes
        self.mutation_cost = planner.mutation_cost
        self.document = document
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self._fragment_costs: dict[str, tuple[FieldCost, ...]] = {}

    def operation(self, name: str | None) -> Plan:
        operations = [
            d for d in self.document.definitions if isinstance(d, OperationDefinitionNode)
        ]
        if name is not None:
            operations = [o for o in operations if o.name and o.name.value == name]
        if not operations:
            return Plan((), self.sizes)
        operation = operations[0]
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return Plan((), self.sizes)
        defaults = _variable_defaults(operation)
        mutation = operation.operation == OperationType.MUTATION
        fields = self._selection(operation.selection_set, root, defaults, root_of_mutation=mutation)
        return Plan(fields, self.sizes)

    def _selection(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLType,
        defaults: dict[str, int | None],
        *,
        root_of_mutation: bool = False,
        connection: bool = False,
    ) -> tuple[FieldCost, ...]:
        costs: list[FieldCost] = []
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                cost = self._field(selection, parent, defaults, root_of_mutation, connection)
                if cost is not None:
                    costs.append(cost)
            elif isinstance(selection, InlineFragmentNode):
                condition = (
                    self.schema.get_type(selection.type_condition.name.value)
                    if selection.type_condition
                    else parent
                )
                if condition is not None:
                    costs.extend(
                        self._selection(
                            selection.selection_set,
                            condition,
                            defaults,
                            root_of_mutation=root_of_mutation,
                            connection=connection,
                        )
                    )
            elif isinstance(selection, FragmentSpreadNode):
                costs.extend(
                    self._fragment(selection.name.value, defaults, root_of_mutation, connection)
                )
        return tuple(costs)

    def _fragment(
        self,
        name: str,
        defaults: dict[str, int | None],
        root_of_mutation: bool,
        connection: bool,
    ) -> tuple[FieldCost, ...]:
        key = f"{name}/{root_of_mutation}/{connection}"
        if key not in self._fragment_costs:
            fragment = self.fragments.get(name)
            condition = (
                self.schema.get_type(fragment.type_condition.name.value) if fragment else None
            )
            self._fragment_costs[key] = (
                ()
                if fragment is None or condition is None
                else self._selection(
                    fragment.selection_set,
                    condition,
                    defaults,
                    root_of_mutation=root_of_mutation,
                    connection=connection,
                )
            )
        return self._fragment_costs[key]

    def _field(
        self,
        node: FieldNode,
        parent: GraphQLType,
        defaults: dict[str, int | None],
        root_of_mutation: bool,
        connection: bool,
    ) -> FieldCost | None:
        definition = _field_definition(self.schema, parent, node.name.value)
        if definition is None:
            return None
        returned = get_named_type(definition.type)
        if not is_composite_type(returned) and not root_of_mutation:
            return None  # a scalar or an enum
        page = self._page(node, definition, returned.name, defaults)
        children = (
            self._selection(node.selection_set, returned, defaults, connection=page is not None)
            if node.selection_set is not None
            else ()
        )
        return FieldCost(
            key=node.alias.value if node.alias else node.name.value,
            # A mutation's own cost is its base: its payload object is not counted again.
            own=self.mutation_cost if root_of_mutation else 1,
            children=children,
            page=page,
            per_item=connection and node.name.value in PER_ITEM,
            mutation=root_of_mutation,
        )

    def _page(
        self,
        node: FieldNode,
        definition: GraphQLField,
        returned_name: str,
        defaults: dict[str, int | None],
    ) -> PageSize | None:
        if not returned_name.endswith("Connection") or not any(
            name in definition.args for name in PAGE_ARGUMENTS
        ):
            return None
        given = {argument.name.value: argument.value for argument in node.arguments or ()}
        for name in PAGE_ARGUMENTS:
            value = given.get(name)
            if isinstance(value, IntValueNode):
                return PageSize(int(value.value))
            if isinstance(value, VariableNode):
                fallback = defaults.get(value.name.value)
                return PageSize(
                    self.sizes.default if fallback is None else fallback, value.name.value
                )
        return PageSize(self.sizes.default)


def _variable_defaults(operation: OperationDefinitionNode) -> dict[str, int | None]:
    defaults: dict[str, int | None] = {}
    for definition in operation.variable_definitions or ():
        value = definition.default_value
        defaults[definition.variable.name.value] = (
            int(value.value) if isinstance(value, IntValueNode) else None
        )
    return defaults


def _field_definition(schema: GraphQLSchema, parent: GraphQLType, name: str) -> GraphQLField | None:
    if name == "__schema" and parent is schema.query_type:
        return SchemaMetaFieldDef
    if name == "__type" and parent is schema.query_type:
        return TypeMetaFieldDef
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        return parent.fields.get(name)
    return None
