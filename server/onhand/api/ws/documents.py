"""Looking into a subscribe message's document: which operation it runs, and whether it asks
for a replay (`after:`), which decides if its execution can be shared. Documents are parsed
with the same token limit as over HTTP: parsing a megabyte of tokens takes seconds."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    VariableNode,
    Visitor,
    parse,
    visit,
)


@lru_cache(maxsize=1024)
def parsed(query: str, max_tokens: int) -> DocumentNode:
    return parse(query, max_tokens=max_tokens)


def operation_type(query: str, operation_name: str | None, max_tokens: int) -> str:
    """'query', 'mutation' or 'subscription'; raises GraphQLError for a bad document."""
    document = parsed(query, max_tokens)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1:
        raise GraphQLError("the document must name exactly one operation to run")
    return operations[0].operation.value


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
