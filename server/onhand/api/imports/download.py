"""GET /exports/inventory.csv: an export of any size, streamed as PostgreSQL writes it.
Authorized like /graphql: `Authorization: Bearer <token>` of a role that may read stock.

Filters as query parameters: warehouseCode and sku (repeatable), search, includeZero
(default true), belowSafetyStock (default false).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from onhand.auth.roles import Permission
from onhand.auth.tokens import HOW_TO_AUTHENTICATE
from onhand.core.errors import DomainError
from onhand.inventory.imports import export
from onhand.services import Services


def _flag(request: Request, name: str, default: bool) -> bool | None:
    value = request.query_params.get(name)
    if value is None:
        return default
    return {"true": True, "1": True, "false": False, "0": False}.get(value.lower())


def _error(status: int, code: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]}, status, headers
    )


def download_endpoint(services: Services) -> Callable[[Request], Awaitable[Response]]:
    async def download(request: Request) -> Response:
        principal = await services.authenticator.authenticate(request.headers.get("authorization"))
        if principal is None:
            return _error(401, "UNAUTHENTICATED", HOW_TO_AUTHENTICATE)
        if not principal.can(Permission.READ_STOCK):
            return _error(403, "FORBIDDEN", "this token's role may not read stock")
        include_zero = _flag(request, "includeZero", True)
        below = _flag(request, "belowSafetyStock", False)
        if include_zero is None or below is None:
            return _error(
                400, "BAD_USER_INPUT", "includeZero and belowSafetyStock are true or false"
            )
        filters = export.ExportFilter(
            warehouse_codes=tuple(request.query_params.getlist("warehouseCode")),
            skus=tuple(request.query_params.getlist("sku")),
            search=request.query_params.get("search") or None,
            include_zero=include_zero,
            below_safety_stock=below,
        )
        try:
            await export.check_filter(services.engine, filters)
        except DomainError as error:
            return _error(404, str(error.problems[0].code), str(error))
        name = export.file_name()
        return StreamingResponse(
            export.stream_csv(services.engine, filters),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return download
