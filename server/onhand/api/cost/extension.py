"""The query cost extension: reports each operation's cost in `extensions.cost`, and charges
it to the calling token's bucket before the operation runs, refusing it when the bucket does
not hold enough (THROTTLED, with when to retry) or could never hold it (MAX_COST_EXCEEDED).
What the operation did not use (fewer items than its page sizes) is given back afterwards.

A subscription is charged once, when it starts: over WebSocket by the connection (api/ws),
which marks the context charged, since one execution there may serve many subscribers.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from graphql import ExecutionResult, GraphQLError
from prometheus_client import Counter
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from onhand.api.cost.plan import Planner
from onhand.auth.cost_buckets import CostBuckets, CostLimits, Outcome
from onhand.core.errors import ErrorCode

THROTTLED = str(ErrorCode.THROTTLED)
MAX_COST_EXCEEDED = str(ErrorCode.MAX_COST_EXCEEDED)
# Operations refused for their cost, by code and role: a client to slow down, or a limit set
# too tight for the role's real traffic.
REFUSED = Counter(
    "onhand_cost_refusals_total",
    "Operations refused by the cost limit (THROTTLED or MAX_COST_EXCEEDED)",
    ["code", "role"],
)


@dataclass
class Charge:
    """What one operation asked for, took and left."""

    requested: int
    outcome: Outcome | None = None
    actual: int | None = None


@dataclass(frozen=True)
class CostRules:
    """What the extension needs, built once per schema."""

    planner: Planner
    limits: CostLimits
    enabled: bool


def throttle_status(outcome: Outcome) -> dict[str, Any]:
    return {
        "maximumAvailable": outcome.limit.maximum,
        "currentlyAvailable": math.floor(outcome.available),
        "restoreRate": outcome.limit.restore_rate,
    }


def refusal(charged: Charge, outcome: Outcome) -> GraphQLError:
    if charged.requested > outcome.limit.maximum:
        return GraphQLError(
            f"the query costs {charged.requested:,}, more than the {outcome.limit.maximum:,}"
            " this token's bucket can ever hold: ask for smaller pages (first) or fewer"
            " fields",
            extensions={
                "code": MAX_COST_EXCEEDED,
                "maximumCost": outcome.limit.maximum,
                "cost": {"requestedQueryCost": charged.requested},
            },
        )
    wait = outcome.retry_after(charged.requested)
    return GraphQLError(
        f"throttled: the query costs {charged.requested:,} and this token has"
        f" {math.floor(outcome.available):,} available; retry in {wait:.2f} s",
        extensions={
            "code": THROTTLED,
            "retryAfterSeconds": round(wait, 3),
            "cost": {
                "requestedQueryCost": charged.requested,
                "throttleStatus": throttle_status(outcome),
            },
        },
    )


async def charge(
    rules: CostRules, request: Any, requested: int
) -> tuple[Charge, GraphQLError | None]:
    """Take `requested` out of the calling token's bucket; the error refusing the operation
    when the bucket cannot pay for it (Retry-After set on an HTTP response)."""
    charged = Charge(requested)
    principal = getattr(request, "principal", None)
    buckets: CostBuckets | None = getattr(getattr(request, "services", None), "cost_buckets", None)
    if not rules.enabled or principal is None or buckets is None:
        return charged, None
    role = str(principal.role)
    limit = rules.limits.of(principal.name, role)
    if requested > limit.maximum:
        REFUSED.labels(MAX_COST_EXCEEDED, role).inc()
        return charged, refusal(charged, Outcome(False, 0.0, limit))
    outcome = charged.outcome = await buckets.take(principal.name, requested, limit)
    if outcome.taken:
        return charged, None
    REFUSED.labels(THROTTLED, role).inc()
    error = refusal(charged, outcome)
    _tell_when_to_retry(request, error)
    return charged, error


async def give_back(request: Any, charged: Charge) -> None:
    """Return to the bucket what the operation did not use (Shopify's refund)."""
    if charged.outcome is None or charged.actual is None:
        return
    unused = charged.requested - charged.actual
    principal = getattr(request, "principal", None)
    buckets: CostBuckets | None = getattr(getattr(request, "services", None), "cost_buckets", None)
    if unused > 0 and principal is not None and buckets is not None:
        charged.outcome = await buckets.take(principal.name, -unused, charged.outcome.limit)


class QueryCost(SchemaExtension):
    def __init__(self, *, rules: CostRules) -> None:
        self.rules = rules
        self.charge: Charge | None = None

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is None or context.query is None:
            yield
            return
        plan = self.rules.planner.plan(
            context.schema._schema, context.query, document, context.operation_name
        )
        request = context.context
        subscription = context.operation_type == OperationType.SUBSCRIPTION
        requested = plan.requested(context.variables)
        if getattr(request, "cost_charged", False):
            self.charge, error = Charge(requested), None
        else:
            self.charge, error = await charge(self.rules, request, requested)
        if error is not None:
            if subscription:
                raise error
            context.result = ExecutionResult(data=None, errors=[error])
            self.charge.actual = 0
            yield
            return
        yield
        if not subscription:
            self.charge.actual = plan.actual(getattr(context.result, "data", None))
            await give_back(request, self.charge)

    def get_results(self) -> dict[str, Any]:
        charged = self.charge
        if charged is None or self.execution_context.operation_type == OperationType.SUBSCRIPTION:
            return {}
        return cost_report(charged)


def cost_report(charged: Charge) -> dict[str, Any]:
    """What an operation's response says of its cost, in `extensions`."""
    cost: dict[str, Any] = {
        "requestedQueryCost": charged.requested,
        "actualQueryCost": charged.actual,
    }
    if charged.outcome is not None:
        cost["throttleStatus"] = throttle_status(charged.outcome)
    return {"cost": cost}


def _tell_when_to_retry(request: Any, error: GraphQLError) -> None:
    """Retry-After on the HTTP response (a whole number of seconds, as HTTP wants)."""
    seconds = (error.extensions or {}).get("retryAfterSeconds")
    headers = getattr(getattr(request, "response", None), "headers", None)
    if seconds is not None and headers is not None:
        headers["Retry-After"] = str(max(1, math.ceil(seconds)))
