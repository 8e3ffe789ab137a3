"""Every query and mutation of the schema, called by every role with made-up but well-typed
arguments (ids of the wrong or a missing object, one-character strings, small numbers), answers
with data or coded errors: never an unexpected error, never a server error. Whatever a client
sends, no request crashes a resolver."""

from __future__ import annotations

from typing import Any

import pytest

from onhand.auth.roles import Role
from support import factories
from support.client import Client
from support.schema_calls import DOMAIN_CODES, REQUEST_CODES, SCHEMA, call

CALLS = [
    pytest.param(*made, id=f"{kind}-{name}")
    for kind, root in (("query", SCHEMA.query_type), ("mutation", SCHEMA.mutation_type))
    for name, field in sorted(root.fields.items())
    if (made := call(kind, name, field)) is not None
]


def test_the_sweep_covers_the_schema() -> None:
    fields = len(SCHEMA.query_type.fields) + len(SCHEMA.mutation_type.fields)
    assert len(CALLS) >= fields - 2  # all but the file-only ones


@pytest.mark.parametrize(("document", "variables"), CALLS)
async def test_every_operation_answers_every_role_with_data_or_coded_errors(
    admin: Client, http: Any, tokens: dict[Role, str], document: str, variables: dict[str, Any]
) -> None:
    # Product 1 exists and is stocked, so the made-up product id finds something.
    await factories.stocked(admin, "SKU-1", {"DC-1": 10})
    for role in (Role.ADMIN, Role.STOREFRONT):
        response = await Client(http, tokens[role]).post(document, variables)
        assert response.status_code == 200, (role, response.text)
        body = response.json()
        for error in body.get("errors") or []:
            assert error["message"] != "Unexpected error.", (role, document, body)
            code = (error.get("extensions") or {}).get("code")
            # The README's convention: a domain code (queries) or one about the request.
            assert code in DOMAIN_CODES | REQUEST_CODES, (role, document, error)
            if document.startswith("mutation"):
                assert code in REQUEST_CODES, (role, document, error)  # the rest: the payload
