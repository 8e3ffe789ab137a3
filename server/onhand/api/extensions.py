"""Schema extensions of our own: domain errors in queries become coded GraphQL errors,
anything unexpected is masked (and logged), and every operation is measured."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator

from graphql import GraphQLError, GraphQLSyntaxError, OperationDefinitionNode
from prometheus_client import Counter, Histogram
from sqlalchemy.exc import DBAPIError
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.relay.types import GlobalIDValueError
from strawberry.types.graphql import OperationType

from onhand.api import request_log
from onhand.core.errors import DomainError
from onhand.core.validation import UNSTORABLE
from onhand.db.transactions import database_unavailable, sqlstate

UNAVAILABLE_MESSAGE = "the database is unavailable: retry shortly"
log = logging.getLogger("onhand.graphql")

CHARACTER_NOT_IN_REPERTOIRE = "22021"

# Operation names are chosen by clients: labelled as they are for the first few hundred names
# a process sees (an application's own operations), "other" beyond, so that /metrics stays
# small whatever clients send.
MAX_OPERATION_NAMES = 200
_OPERATION_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
_labelled_names: set[str] = set()

OPERATIONS = Counter(
    "onhand_graphql_operations_total",
    "GraphQL operations executed",
    ["type", "name", "outcome"],
)
DURATION = Histogram(
    "onhand_graphql_duration_seconds",
    "Time to execute a GraphQL operation",
    ["type"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class DomainErrorCodes(SchemaExtension):
    """A DomainError raised by a query resolver (bad id, unknown filter) is the client's
    mistake: give it the error's code and field as GraphQL error extensions."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        for error in getattr(result, "errors", None) or []:
            code_domain_error(error)


def code_domain_error(error: GraphQLError) -> GraphQLError:
    """Give an error raised as a DomainError (or a bad global id) its code and field. Also
    for subscriptions, whose results the extension above does not see."""
    original = error.original_error
    if isinstance(original, DomainError):
        problem = original.problems[0]
        error.extensions = {"code": str(problem.code), "field": problem.field}
    elif isinstance(original, GlobalIDValueError):
        error.extensions = {"code": "INVALID_ID"}
    return error


class ReadsOnReplica(SchemaExtension):
    """A query may read from the replica (ONHAND_READ_DATABASE_URL); a mutation's or a
    subscription's reads stay on the primary, which holds what they wrote or wait for."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        try:
            query = context.operation_type == OperationType.QUERY
        except Exception:  # no operation to run: nothing is read
            query = False
        request_context = context.context
        if query and hasattr(request_context, "read_only"):
            request_context.read_only = True
        yield


class OperationNameRequired(SchemaExtension):
    """A document of several operations must say which one to run (the GraphQL spec's
    "Must provide operation name"); strawberry would silently run the first. Placed after the
    validation cache, which sets the validation's errors: this adds to them."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        # The name the request gave: strawberry's `operation_name` falls back to the first's.
        given = getattr(context, "_provided_operation_name", None)
        if document is not None and given is None:
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) > 1:
                error = GraphQLError(
                    "the document holds several operations: say which to run (operationName)",
                    extensions={"code": "GRAPHQL_VALIDATION_FAILED"},
                )
                context.pre_execution_errors = [*(context.pre_execution_errors or []), error]
        yield


def request_error_code(error: GraphQLError) -> str | None:
    """The code of an error about the request itself rather than its execution (a document
    that fails to parse or validate, safety limits included, or a variable whose value does
    not fit its type); None for any other error. Errors raised while executing always carry
    a path."""
    if error.path is not None:
        return None
    if isinstance(error, GraphQLSyntaxError):  # the token limit's refusal included
        return "GRAPHQL_PARSE_FAILED"
    original = error.original_error
    if original is None:
        return "GRAPHQL_VALIDATION_FAILED"
    if isinstance(original, GraphQLError):
        return "BAD_USER_INPUT"  # graphql-core refused a variable's value
    if isinstance(original, ValueError | TypeError):
        return "GRAPHQL_VALIDATION_FAILED"  # a scalar refused a literal in the document
    return None


def _request_error(error: GraphQLError) -> bool:
    """Is this an error about the request itself? If so, give it a code clients can switch
    on."""
    code = request_error_code(error)
    if code is None:
        return False
    error.extensions = {"code": code, **(error.extensions or {})}
    return True


def _expected(error: GraphQLError) -> bool:
    """Errors safe to show as they are: bad documents, refused permissions, bad input."""
    if _request_error(error):
        return True
    original = error.original_error
    if original is None or isinstance(original, DomainError | GlobalIDValueError):
        return True
    if isinstance(original, GraphQLError) and (original.extensions or {}).get("code"):
        return True
    return bool((error.extensions or {}).get("code"))


def _refused_text(error: GraphQLError) -> bool:
    """Did PostgreSQL refuse text the client sent? It stores no NUL character (U+0000) and no
    unpaired surrogate, which JSON and GraphQL strings may carry; the statement failed, so
    nothing was written."""
    original = error.original_error
    if isinstance(original, DBAPIError) and sqlstate(original) == CHARACTER_NOT_IN_REPERTOIRE:
        return True
    # An unpaired surrogate: UTF-8 cannot encode it, so the driver never sent the statement.
    cause: BaseException | None = original
    while cause is not None:
        if isinstance(cause, UnicodeEncodeError):
            return True
        cause = cause.__cause__
    return False


class MaskUnexpectedErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=self._should_mask)

    @staticmethod
    def _should_mask(error: GraphQLError) -> bool:
        if _expected(error):
            return False
        if database_unavailable(error.original_error):
            # An outage, logged by every background loop that meets it: one line here.
            log.warning("database unavailable in %s: %s", error.path, error.original_error)
        elif not _refused_text(error):
            log.error("unexpected error in %s", error.path, exc_info=error.original_error)
        return True

    def _process_result(self, result: object) -> None:
        # As strawberry's, without its isinstance test against a runtime-checkable Protocol,
        # which costs more than the rest of the extension on a result without errors.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]  # it has errors

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        # The database's own message would show the statement: say what was wrong instead.
        masked = super().anonymise_error(error)
        if database_unavailable(error.original_error):
            masked.message = UNAVAILABLE_MESSAGE
            masked.extensions = {"code": "UNAVAILABLE"}
        elif _refused_text(error):
            masked.message = f"text {UNSTORABLE}"
            masked.extensions = {"code": "BAD_USER_INPUT"}
        return masked


class Metrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        try:
            kind = context.operation_type.value
        except Exception:  # the document did not parse: there is no operation
            kind = "invalid"
        errors = getattr(context.result, "errors", None) or []
        record_operation(kind, context.operation_name, errors, context.context, started)


def record_operation(
    kind: str, name: str | None, errors: list[GraphQLError], context: object, started: float
) -> None:
    """Count and time one operation, and tell the request's log line about it."""
    outcome = "error" if errors else "ok"
    OPERATIONS.labels(kind, operation_label(name), outcome).inc()
    DURATION.labels(kind).observe(time.perf_counter() - started)
    entry = request_log.record()
    if entry is not None:
        entry.operation_type = kind
        entry.operation = name
        principal = getattr(context, "principal", None)
        if principal is not None:
            entry.token, entry.role = principal.name, str(principal.role)
        entry.codes.extend(str((e.extensions or {}).get("code", "INTERNAL")) for e in errors)


def operation_label(name: str | None) -> str:
    """The operation's name as a metrics label: bounded in number and shape."""
    if not name:
        return "anonymous"
    if name in _labelled_names:
        return name
    if len(_labelled_names) < MAX_OPERATION_NAMES and _OPERATION_NAME.fullmatch(name):
        _labelled_names.add(name)
        return name
    return "other"
