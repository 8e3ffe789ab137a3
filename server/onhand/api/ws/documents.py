"""Looking into a subscribe message's document: which operation it runs, and whether it asks
for a replay (`after:`), which decides if its execution can be shared. Documents are parsed
as over HTTP (api/documents.py)."""

from __future__ import annotations

from typing import Any

from graphql import ArgumentNode, GraphQLError, VariableNode, Visitor, visit

from onhand.api.documents import chosen_operation, parsed


def operation_type(query: str, operation_name: str | None, max_tokens: int) -> str:
    """'query', 'mutation' or 'subscription'; raises GraphQLError for a bad document."""
    operation = chosen_operation(parsed(query, max_tokens), operation_name)
    if operation is None:
        raise GraphQLError("the document must name exactly one operation to run")
    return operation.operation.value


class _AfterFinder(Visitor):
    def __init__(self, variables: dict[str, Any]) -> None:
        super().__init__()
        self.variables = variables
        self.replays = False

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        if node.name.value != "after":
            return
        if isinstance(node.value, VariableNode):
            if self.variables.get(node.value.name.value) is not None:
                self.replays = True
        elif node.value.kind != "null_value":
            self.replays = True


def replays(query: str, variables: dict[str, Any] | None, max_tokens: int) -> bool:
    """True when the operation passes a non-null `after` anywhere."""
    finder = _AfterFinder(variables or {})
    visit(parsed(query, max_tokens), finder)
    return finder.replays
