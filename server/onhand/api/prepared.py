"""The common GraphQL request answered without strawberry's per-request machinery.

Nearly every request a storefront, a POS or a connector sends is the same few documents,
POSTed as application/json. strawberry's HTTP view and its `Schema.execute` are general:
for each request they build a request adapter, parse the content type, decide on a stream
transport, make eight extensions and enter and leave their hooks through exit stacks for
the operation, parsing, validation and execution. Under a hot reservation load that was
about a sixth of the server's CPU, spent deciding again what was decided for the same
document a moment before.

Here a document is parsed once per process with the same token limit (api/documents.py,
shared with the WebSocket endpoint), validated from the same cache with the same rules (so
its answer is the one strawberry's path finds), and its operation chosen as strawberry
chooses it. Each request then runs the same steps as
plain calls, in strawberry's order: reads on the replica for a query, the cost charge and
its refund, graphql-core's execution with strawberry's executor, the timing and request
log (Metrics), the masking of unexpected errors, the domain error codes, the cost in
`extensions`; and its response is made by the view's own process_result and
create_response, byte for byte what the view answers.

Everything else goes to strawberry's view (a JSON body already read is kept for it): GET,
multipart (never read here), a batch, a body of another shape, a stream or a subscription,
and any document that does not parse, does not validate or names no operation of its own,
so that every refusal keeps its one implementation.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeGuard, cast

from graphql import DocumentNode, GraphQLError, execute
from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import Response
from strawberry.execution import optimized_is_awaitable
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from onhand.api import media_types
from onhand.api.cost.extension import Charge, charge, cost_report, give_back
from onhand.api.documents import chosen_operation, parsed
from onhand.api.extensions import MaskUnexpectedErrors, code_domain_error, record_operation
from onhand.api.refusals import never_ran, refused_status
from onhand.api.validation_cache import validation_errors

if TYPE_CHECKING:
    from onhand.api.schema import Schema
    from onhand.api.view import GraphQLView

PREPARED = Counter(
    "onhand_graphql_prepared_requests_total",
    "GraphQL requests answered by the prepared path (the rest by strawberry's view)",
)

# The body keys of a GraphQL request (GraphQL over HTTP); any other shape goes to the view.
_REQUEST_KEYS = frozenset({"query", "variables", "operationName", "extensions"})
# Accept values asking for a streamed answer: the view decides those.
_STREAMING = ("multipart/mixed", "text/event-stream")


@dataclass(frozen=True)
class Prepared:
    """A document parsed and validated, and the operation a request of it runs."""

    document: DocumentNode
    operation_type: OperationType
    # The name strawberry reports and runs: the one given, else the first operation's.
    operation_name: str | None


def prepare(
    schema: Schema, query: str, operation_name: str | None, max_tokens: int
) -> Prepared | None:
    """The document and operation a request runs, from the caches every request shares; None
    for a request this path leaves to the view (a document that does not parse or validate,
    no single operation to run, a subscription)."""
    try:
        document = parsed(query, max_tokens)
    except GraphQLError:
        return None
    if validation_errors(schema._schema, query, document, schema.document_rules):
        return None
    # Several operations and no name is a refusal (OperationNameRequired): the view's.
    chosen = chosen_operation(document, operation_name)
    if chosen is None:
        return None
    kind = OperationType(chosen.operation.value)
    if kind == OperationType.SUBSCRIPTION:
        return None
    if operation_name is None and chosen.name is not None:
        operation_name = chosen.name.value
    return Prepared(document, kind, operation_name)


def takes(request: Request) -> bool:
    """Is this a request this path may answer, by its headers? Asked before the body is read:
    a multipart upload is streamed by the view, never read into memory here."""
    headers = request.headers
    content_type = (headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        return False
    accept = headers.get("accept") or ""
    return not any(kind in accept for kind in _STREAMING)


def request_body(body: bytes) -> dict[str, Any] | None:
    """The GraphQL request in a POSTed JSON body, or None when it is anything this path
    leaves to the view."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not data.keys() <= _REQUEST_KEYS:
        return None
    query, variables = data.get("query"), data.get("variables")
    name, extensions = data.get("operationName"), data.get("extensions")
    if not isinstance(query, str) or not query:
        return None
    if variables is not None and not isinstance(variables, dict):
        return None
    if name is not None and not isinstance(name, str):
        return None
    if extensions is not None and not isinstance(extensions, dict):
        return None
    return data


# The schema's extensions whose steps PreparedPath runs itself (api/schema.py), by name. A
# schema with any other extension is served by the view alone: its steps would be skipped.
MIRRORED_EXTENSIONS = frozenset(
    {
        "LimitedParserCache",
        "DocumentValidationCache",
        "OperationNameRequired",
        "ReadsOnReplica",
        "QueryCost",
        "DomainErrorCodes",
        "MaskUnexpectedErrors",
        "Metrics",
    }
)


def mirrors(schema: Schema) -> bool:
    """Does the prepared path run every step of `schema`'s extensions?"""
    return {type(e).__name__ for e in schema.get_extensions()} <= MIRRORED_EXTENSIONS


class PreparedPath:
    """Answers a POSTed request of a prepared document, or says None to leave it to the
    view."""

    def __init__(self, view: GraphQLView, schema: Schema, max_tokens: int) -> None:
        self.view = view
        self.schema = schema
        self.max_tokens = max_tokens
        self.usable = mirrors(schema)
        # Stateless between requests: one for the process.
        self.masking = MaskUnexpectedErrors()

    async def answer(self, request: Request) -> Response | None:
        if not self.usable or not takes(request):
            return None
        data = request_body(await request.body())
        if data is None:
            return None
        query: str = data["query"]
        prepared = prepare(self.schema, query, data.get("operationName"), self.max_tokens)
        if prepared is None:
            return None
        view = self.view
        sub_response = await view.get_sub_response(request)
        context = await view.get_context(request, sub_response)
        result = await self._run(prepared, query, data, context)
        if sub_response.media_type == media_types.GRAPHQL_RESPONSE_JSON and never_ran(result):
            sub_response.status_code = refused_status(result)
        PREPARED.inc()
        answered = await view.process_result(request, result)
        return view.create_response(answered, sub_response)

    async def _run(
        self, prepared: Prepared, query: str, data: dict[str, Any], context: Any
    ) -> ExecutionResult:
        """strawberry's Schema.execute for this document, its hooks as plain calls in the
        order the extensions run them (api/schema.py)."""
        started = time.perf_counter()
        kind = prepared.operation_type
        # ReadsOnReplica
        if kind == OperationType.QUERY:
            context.read_only = True
        try:
            result, charged = await self._charged_execution(prepared, query, data, context)
        except Exception as error:
            # As strawberry answers a failure outside the execution (the cost bucket's store
            # unreachable, say); masked and logged below like any unexpected error.
            failure = GraphQLError(str(error), original_error=error)
            result = ExecutionResult(data=None, errors=[failure])
            charged = Charge(0, actual=0)
        # The operation's hooks leave in reverse order: Metrics, the masking, the codes.
        errors = result.errors or []
        record_operation(kind.value, prepared.operation_name, errors, context, started)
        self.masking._process_result(result)
        for answered in result.errors or []:
            code_domain_error(answered)
        result.extensions = cost_report(charged)
        return result

    async def _charged_execution(
        self, prepared: Prepared, query: str, data: dict[str, Any], context: Any
    ) -> tuple[ExecutionResult, Charge]:
        """QueryCost around the execution: charged before, the unused part given back."""
        variables = data.get("variables")
        rules = self.schema.cost_rules
        assert rules is not None  # build_schema sets them
        plan = rules.planner.plan(
            self.schema._schema, query, prepared.document, prepared.operation_name
        )
        charged, refused = await charge(rules, context, plan.requested(variables))
        if refused is not None:
            charged.actual = 0
            return ExecutionResult(data=None, errors=[refused]), charged
        executed = execute(
            self.schema._schema,
            prepared.document,
            root_value=None,
            context_value=context,
            variable_values=variables,
            operation_name=prepared.operation_name,
            is_awaitable=cast("Callable[[Any], TypeGuard[Awaitable[Any]]]", optimized_is_awaitable),
            executor_class=self.schema.execution_context_class,
            operation_extensions=data.get("extensions"),
        )
        if optimized_is_awaitable(executed):
            executed = await executed  # type: ignore[misc]  # graphql-core's AwaitableOrValue
        result = ExecutionResult(data=executed.data, errors=executed.errors)  # type: ignore[union-attr]  # awaited above
        charged.actual = plan.actual(result.data)
        await give_back(context, charged)
        return result, charged
