"""How a GraphQL request refused before its operation ran is answered over HTTP (with
application/graphql-response+json; the legacy application/json answers 200 as ever)."""

from __future__ import annotations

from strawberry.types import ExecutionResult

from onhand.api.cost.extension import THROTTLED
from onhand.api.extensions import request_error_code


def never_ran(result: ExecutionResult) -> bool:
    """Was the request refused before its operation ran? Then it has only errors, none with a
    path: every error raised while executing carries one."""
    errors = result.errors or []
    return result.data is None and bool(errors) and all(error.path is None for error in errors)


def refused_status(result: ExecutionResult) -> int:
    """400 for a request at fault (its document, its variables); 429 for one its token's
    query cost bucket cannot pay for yet; 500 when something of ours failed before the
    operation could run."""
    codes = {(error.extensions or {}).get("code") for error in result.errors or []}
    if THROTTLED in codes:
        return 429
    if all(request_error_code(error) for error in result.errors or []):
        return 400
    return 500
