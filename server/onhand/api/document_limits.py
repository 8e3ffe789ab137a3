"""The safety limits on a GraphQL document (depth, aliases, fields, fragments), checked in one
pass linear in the document, before graphql-core's own rules do any work on it.

Fragments are why this needs care: a fragment spreading another twice, twenty levels over,
stands for a million fields in a few hundred bytes. strawberry's QueryDepthLimiter and
MaxAliasesLimiter walk every spread again (2**n steps, on the event loop, deaf to SIGTERM).
Here each fragment is measured once, and its measure reused wherever it is spread.
"""

from __future__ import annotations

from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from typing import Any

from graphql import (
    SKIP,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VisitorAction,
)
from graphql.validation.rules import overlapping_fields_can_be_merged
from graphql.validation.validate import ValidationAbortedError

# graphql-core checks that fields sharing a response name can be merged by comparing them in
# pairs, and gives up ("Validation aborted.") once this much work is spent. Its default,
# 500,000, is a second of the event loop for a document repeating one field 450 times; real
# documents spend a few hundred at most.
FIELD_MERGING_BUDGET = 50_000


def bound_field_merging() -> None:
    """Apply FIELD_MERGING_BUDGET (graphql-core reads it as each validation starts)."""
    overlapping_fields_can_be_merged.MAX_COMPLEXITY_BUDGET = FIELD_MERGING_BUDGET


@dataclass(frozen=True)
class Limits:
    depth: int
    aliases: int
    selections: int
    fragments: int


@dataclass(frozen=True)
class Measure:
    """What a selection set stands for once every fragment in it is spread: how deep its
    fields nest and how many fields and aliases it selects. Counts stop just past their
    limit, so that doubling fragments do not make the numbers themselves grow."""

    depth: int = 0
    aliases: int = 0
    selections: int = 0


@dataclass(frozen=True)
class Outline:
    """A definition's own fields, and the fragments it spreads with the depth they start at
    (None inside introspection, whose depth is not counted)."""

    own: Measure
    spreads: list[tuple[str, int | None]]


def outline(selection_set: SelectionSetNode) -> Outline:
    depth = aliases = selections = 0
    spreads: list[tuple[str, int | None]] = []
    # A field's level is how many fields enclose it; None below an introspection field:
    # GraphiQL's own schema query nests type references deeper than any limit would allow.
    stack: list[tuple[SelectionSetNode, int | None]] = [(selection_set, 0)]
    while stack:
        current, level = stack.pop()
        for selection in current.selections:
            if isinstance(selection, FieldNode):
                selections += 1
                aliases += selection.alias is not None
                if level is not None:
                    depth = max(depth, level)
                if selection.selection_set is not None:
                    introspection = selection.name.value.startswith("__")
                    inner = None if level is None or introspection else level + 1
                    stack.append((selection.selection_set, inner))
            elif isinstance(selection, InlineFragmentNode):
                stack.append((selection.selection_set, level))
            elif isinstance(selection, FragmentSpreadNode):
                spreads.append((selection.name.value, level))
    return Outline(Measure(depth, aliases, selections), spreads)


def combine(part: Outline, fragments: dict[str, Measure], limits: Limits) -> Measure:
    depth, aliases, selections = part.own.depth, part.own.aliases, part.own.selections
    for name, level in part.spreads:
        spread = fragments.get(name)
        if spread is None:  # an unknown fragment: KnownFragmentNamesRule says so
            continue
        if level is not None:
            depth = max(depth, level + spread.depth)
        aliases = min(aliases + spread.aliases, limits.aliases + 1)
        selections = min(selections + spread.selections, limits.selections + 1)
    return Measure(depth, aliases, selections)


def excess(document: DocumentNode, limits: Limits) -> ValidationAbortedError | None:
    """The first limit the document goes beyond, as the error refusing it."""
    definitions = [d for d in document.definitions if isinstance(d, FragmentDefinitionNode)]
    if len(definitions) > limits.fragments:
        return ValidationAbortedError(
            f"the document defines {len(definitions)} fragments; at most {limits.fragments}"
            " are allowed"
        )
    outlines = {d.name.value: outline(d.selection_set) for d in definitions}
    graph = {name: {s for s, _ in part.spreads if s in outlines} for name, part in outlines.items()}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        cycle: list[str] = error.args[1]
        nodes = [d for d in definitions if d.name.value in cycle]
        return ValidationAbortedError(
            f"fragments spread each other in a cycle: {' -> '.join(reversed(cycle))}", nodes
        )
    fragments: dict[str, Measure] = {}
    for name in order:  # each fragment after those it spreads
        fragments[name] = combine(outlines[name], fragments, limits)
    for operation in document.definitions:
        if isinstance(operation, OperationDefinitionNode):
            problem = _operation_excess(operation, fragments, limits)
            if problem is not None:
                return problem
    return None


def _operation_excess(
    operation: OperationDefinitionNode, fragments: dict[str, Measure], limits: Limits
) -> ValidationAbortedError | None:
    measure = combine(outline(operation.selection_set), fragments, limits)
    name = operation.name.value if operation.name else "anonymous"
    each_use = "counting a fragment's in each place it is spread"
    if measure.depth > limits.depth:
        message = f"'{name}' exceeds maximum operation depth of {limits.depth}"
    elif measure.aliases > limits.aliases:
        message = f"'{name}' has more than {limits.aliases} aliases, {each_use}"
    elif measure.selections > limits.selections:
        message = f"'{name}' selects more than {limits.selections} fields, {each_use}"
    else:
        return None
    return ValidationAbortedError(message, operation)


def document_limits_rule(limits: Limits) -> type[ValidationRule]:
    """A validation rule refusing documents beyond `limits`. It raises rather than reports,
    which ends the validation there: the other rules never visit a document too big."""

    class DocumentLimitsRule(ValidationRule):
        def enter_document(self, node: DocumentNode, *_args: Any) -> VisitorAction:
            problem = excess(node, limits)
            if problem is not None:
                raise problem
            return SKIP

    return DocumentLimitsRule
