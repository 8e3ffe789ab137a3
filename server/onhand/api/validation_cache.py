"""Parsing and validation answered once per document text.

strawberry's ValidationCache keys its cache by the parsed document, and graphql-core's
nodes are frozen dataclasses whose hash walks the whole tree: every request hashed its
document again, node by node, to find the answer it already had. The text the client sent
is the same key, cheaper to hash (the parser cache turns one text into one document, with
the same parse options for every request), so this cache is keyed by it, with the schema
and the rules.

Both are also done by fewer extensions: strawberry makes every extension afresh for each
operation and looks up each of its hooks, so the token limit is set by the parser cache
itself and the schema's own rules added by the validation cache, not by extensions of their
own.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator

from graphql import DocumentNode, GraphQLError, GraphQLSchema, specified_rules
from graphql.validation import ASTValidationRule
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.schema.schema import validate_document

# The schema itself, not its id: an entry keeps its schema alive, so no later schema can
# take its id and find another schema's answers.
Key = tuple[GraphQLSchema, str, tuple[type, ...]]


class _Answers:
    """A bounded map of validation answers, least recently used dropped first. Locked: apps
    served side by side in threads of one process share it."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.entries: OrderedDict[Key, list[GraphQLError]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Key) -> list[GraphQLError] | None:
        with self.lock:
            found = self.entries.get(key)
            if found is not None:
                self.entries.move_to_end(key)
            return found

    def put(self, key: Key, errors: list[GraphQLError]) -> None:
        with self.lock:
            self.entries[key] = errors
            if len(self.entries) > self.maxsize:
                self.entries.popitem(last=False)


_answers: dict[int, _Answers] = {}


class LimitedParserCache(ParserCache):
    """strawberry's ParserCache and MaxTokensLimiter in one: documents parsed with at most
    `max_tokens` tokens, each text parsed once."""

    def __init__(self, max_tokens: int, maxsize: int = 1024) -> None:
        super().__init__(maxsize)
        self.max_tokens = max_tokens

    def on_parse(self) -> Iterator[None]:
        self.execution_context.parse_options["max_tokens"] = self.max_tokens
        yield from super().on_parse()


def validated(
    answers: _Answers,
    schema: GraphQLSchema,
    query: str,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
) -> list[GraphQLError]:
    key = (schema, query, rules)
    errors = answers.get(key)
    if errors is None:
        errors = validate_document(schema, document, rules)
        answers.put(key, errors)
    return errors


def validation_errors(
    schema: GraphQLSchema,
    query: str,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
    maxsize: int = 1024,
) -> list[GraphQLError]:
    """The answer a request's validation gives `query` with graphql-core's rules and `rules`,
    from the same cache: a caller outside a request (a WebSocket subscription, whose cost is
    planned before it runs) validates first, and the request then finds the answer."""
    return validated(_answers_of(maxsize), schema, query, document, (*specified_rules, *rules))


def _answers_of(maxsize: int) -> _Answers:
    found = _answers.get(maxsize)
    if found is None:
        found = _answers.setdefault(maxsize, _Answers(maxsize))
    return found


class DocumentValidationCache(SchemaExtension):
    """strawberry's AddValidationRules and ValidationCache in one, keyed by the document's
    text. A factory as the other extensions: built per request, its answers shared at module
    level by `maxsize`."""

    def __init__(
        self, rules: tuple[type[ASTValidationRule], ...] = (), maxsize: int = 1024
    ) -> None:
        self.rules = rules
        self.answers = _answers_of(maxsize)

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        schema = context.schema._schema
        document = context.graphql_document
        assert document is not None  # strawberry validates only what parsed
        rules = context.validation_rules = (*context.validation_rules, *self.rules)
        if context.query is None:  # a document given already parsed: nothing to key it by
            context.pre_execution_errors = validate_document(schema, document, rules)
        else:
            context.pre_execution_errors = validated(
                self.answers, schema, context.query, document, rules
            )
        yield
