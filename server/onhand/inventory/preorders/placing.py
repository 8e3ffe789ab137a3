"""Placing and releasing preorders (createPreorder, releasePreorder).

A preorder locks its cap row first, so that concurrent preorders of one scope take turns:
each sums what is preordered under the lock, and none passes the cap. It touches no level: it
holds no stock. Of its channel's row it only makes it when missing, for a receipt to lock
(inventory/ledger.py: a receipt sharing its transaction with an earlier change only takes the
channel rows there are and are free).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core import validation as check
from onhand.core.errors import Collector, DomainError, ErrorCode
from onhand.core.refs import Ref
from onhand.inventory.channels.registry import OWN_CHANNEL_ONLY, ChannelRef, resolve_channel
from onhand.inventory.idempotency import claim_for, claim_key, remember
from onhand.inventory.ledger import ChangeContext
from onhand.inventory.preorders.caps import LOCK_CAP, PREORDERED_NOW, refuse_a_kit
from onhand.inventory.preorders.model import Preorder, PreorderChangeKind, event_insert
from onhand.inventory.refs import resolve_product, resolve_warehouse

MAX_TEXT = 200


@dataclass(frozen=True)
class PlacePreorder:
    product: Ref
    quantity: int
    warehouse: Ref | None = None  # None: whichever warehouse receives first
    channel: ChannelRef | None = None
    reference_id: str | None = None
    idempotency_key: str | None = None


_INSERT = text(
    f"""
    WITH made AS (
        INSERT INTO preorders (product_id, warehouse_id, channel_id, quantity, reference_id,
            actor)
        VALUES (:product, :warehouse, :channel, :quantity, :reference, :actor)
        RETURNING *
    ),
    channel_row AS (
        INSERT INTO channel_inventory (channel_id, product_id)
        SELECT channel_id, product_id FROM made WHERE channel_id IS NOT NULL
        ON CONFLICT (channel_id, product_id) DO NOTHING
    ),
    events AS ({event_insert("p", PreorderChangeKind.CREATED, "made")})
    SELECT * FROM made
    """
)
_LOCK = text(
    """
    SELECT p.*, c.kind AS channel_kind FROM preorders p
    LEFT JOIN channels c ON c.id = p.channel_id
    WHERE p.id = :id FOR UPDATE OF p
    """
)
_RELEASE = text(
    f"""
    WITH changed AS (
        UPDATE preorders SET status = 'RELEASED', updated_at = now(), ended_at = now(),
            version = version + 1
        WHERE id = :id
        RETURNING *
    ),
    events AS ({event_insert("p", PreorderChangeKind.RELEASED, "changed")})
    SELECT * FROM changed
    """
)


async def place_preorder(
    conn: AsyncConnection, request: PlacePreorder, context: ChangeContext
) -> Preorder:
    errors = Collector()
    check.quantity(errors, "quantity", request.quantity, allow_zero=False)
    reference = check.text(errors, "referenceId", request.reference_id, max_length=MAX_TEXT)
    claim = claim_for("createPreorder", request.idempotency_key, request)
    errors.raise_if_any()
    replay = await claim_key(conn, claim, context.actor)
    if replay is not None:
        return Preorder.from_json(replay)
    product_id = await resolve_product(conn, request.product)
    await refuse_a_kit(conn, product_id, request.product.field)
    warehouse_id = (
        await resolve_warehouse(conn, request.warehouse) if request.warehouse is not None else None
    )
    channel = await resolve_channel(conn, request.channel) if request.channel else None
    if channel is not None:
        where = request.channel.field if request.channel else "channelId"
        if not channel.is_active:
            raise DomainError.of(ErrorCode.INVALID, f"channel {channel.code} is inactive", where)
        if warehouse_id is not None and warehouse_id not in channel.warehouse_ids:
            raise DomainError.of(
                ErrorCode.INVALID,
                f"this warehouse does not fulfil channel {channel.code}",
                request.warehouse.field if request.warehouse else "warehouseId",
            )
    cap = (
        await conn.execute(LOCK_CAP, {"product": product_id, "warehouse": warehouse_id})
    ).one_or_none()
    scope_field = request.warehouse.field if request.warehouse else request.product.field
    if cap is None:
        scope = "this level" if warehouse_id is not None else "this product"
        raise DomainError.of(
            ErrorCode.PREORDERS_NOT_ACCEPTED,
            f"{scope} takes no preorders: no preorder cap is set",
            scope_field,
        )
    preordered = (await conn.execute(PREORDERED_NOW, {"id": cap.id})).scalar_one()
    left = max(0, cap.cap - preordered)
    if request.quantity > left:
        raise DomainError.of(
            ErrorCode.PREORDER_CAP_EXCEEDED,
            f"preorder cap exceeded: {request.quantity} requested, {left} of {cap.cap} left",
            "quantity",
            limit=cap.cap,
            available=left,
            requested=request.quantity,
        )
    row = (
        await conn.execute(
            _INSERT,
            {
                "product": product_id,
                "warehouse": warehouse_id,
                "channel": channel.id if channel else None,
                "quantity": request.quantity,
                "reference": reference,
                "actor": context.actor,
            },
        )
    ).one()
    made = Preorder.from_row(row)
    await remember(conn, claim, made.to_json())
    return made


async def release_preorder(
    conn: AsyncConnection, preorder_id: int, context: ChangeContext, channel_only: int | None
) -> Preorder:
    """Cancel a waiting preorder: its units no longer count against the cap. `channel_only`:
    a caller bound to a channel may release only that channel's preorders (FORBIDDEN, as for
    reservations)."""
    row = (await conn.execute(_LOCK, {"id": preorder_id})).one_or_none()
    if row is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, f"preorder {preorder_id} does not exist", "id")
    if channel_only is not None and row.channel_id != channel_only:
        raise DomainError.of(ErrorCode.FORBIDDEN, OWN_CHANNEL_ONLY, "id")
    if row.status != "ACTIVE":
        raise DomainError.of(
            ErrorCode.INVALID_TRANSITION,
            f"this preorder is {row.status}: only an ACTIVE one may be released",
            "id",
        )
    changed = (await conn.execute(_RELEASE, {"id": preorder_id, "actor": context.actor})).one()
    return Preorder.from_row(changed)
