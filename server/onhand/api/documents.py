"""GraphQL documents as requests send them: parsed once per text, with the same token limit
everywhere (parsing a megabyte of tokens takes seconds), and the operation a request runs."""

from __future__ import annotations

from functools import lru_cache

from graphql import DocumentNode, OperationDefinitionNode, parse


@lru_cache(maxsize=1024)
def parsed(query: str, max_tokens: int) -> DocumentNode:
    """`query` parsed; raises GraphQLError for text that is no document (not remembered)."""
    return parse(query, max_tokens=max_tokens)


def chosen_operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | None:
    """The operation a request runs: the one named, or the only one; None when there is no
    such single operation (several and no name, or a name none has)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    return operations[0] if len(operations) == 1 else None
