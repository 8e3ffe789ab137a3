"""The one write path. Every change to stock, whatever its source, is a list of movements given
to `apply_change`, which in one SQL statement, inside the caller's transaction:

1. locks the affected inventory_levels rows in id order (concurrent multi-row changes cannot
   deadlock), computes each new value from the locked row (and the earlier movements of the
   change on the same level) and judges it against the rule of its movement (enough
   available, expected version, no negative bucket);
2. when every movement passes, updates the rows, appends one immutable ledger row per movement
   and one INVENTORY_UPDATED event per movement to the outbox;
3. when any fails, writes nothing and raises a DomainError naming the failing line.

Quantities are never read into Python, changed and written back: the arithmetic happens in
the statement, on rows it holds locked. A level may appear several times in a change, but only
with deltas: absolute sets name a level once.
"""

from __future__ import annotations

import json
import weakref
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.core.errors import DomainError, ErrorCode, Problem
from onhand.core.records import Level
from onhand.db.plans import autocommit
from onhand.db.tables import BUCKETS
from onhand.events.outbox import insert_events
from onhand.inventory.kits.events import KIT_EVENT_ROWS
from onhand.inventory.kits.stockless import kit_refusals
from onhand.inventory.preorders.receiving import convert_waiting


class MovementType(StrEnum):
    INITIAL = "INITIAL"
    ADJUSTMENT = "ADJUSTMENT"
    SET = "SET"
    RECEIPT = "RECEIPT"
    SALE = "SALE"
    RETURN = "RETURN"
    DAMAGE = "DAMAGE"
    TRANSFER_OUT = "TRANSFER_OUT"
    TRANSFER_IN = "TRANSFER_IN"
    RESERVED = "RESERVED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"
    COMMITTED = "COMMITTED"
    CYCLE_COUNT = "CYCLE_COUNT"
    # Transfer orders: shipped units become `incoming` at the destination (IN_TRANSIT);
    # units lost on the way are written off it (TRANSFER_SHORT); a cancelled shipment
    # comes back to the source (TRANSFER_RETURN).
    IN_TRANSIT = "IN_TRANSIT"
    TRANSFER_SHORT = "TRANSFER_SHORT"
    TRANSFER_RETURN = "TRANSFER_RETURN"
    # Source-system events: a warehouse system's pick and a shipment leaving the building.
    PICK = "PICK"
    SHIPMENT = "SHIPMENT"
    # A note on a level (createInventoryAuditLog): written to the ledger with the level's
    # quantities as they stand, changing none of them, nor the level's version.
    AUDIT = "AUDIT"
    # A repair by reconciliation (inventory/counts/repairs.py): reserved and committed
    # rebuilt from the live reservations, or a change made to a level outside the ledger
    # written to it; its reason says what was found.
    RECONCILIATION = "RECONCILIATION"


# Movements written even though they change no quantity: notes for the audit trail. They
# bump no version and publish no INVENTORY_UPDATED event, since the level did not change.
NOTE_TYPES = frozenset({MovementType.AUDIT})


class MovementSource(StrEnum):
    MANUAL = "MANUAL"
    SYSTEM = "SYSTEM"
    API = "API"
    IMPORT = "IMPORT"
    # An ERP or warehouse system pushing events (recordInventoryEvents).
    EXTERNAL = "EXTERNAL"


class StockRule(StrEnum):
    """What a movement must leave true, unless the warehouse allows backorders."""

    # Sellable stock: a movement that lowers `available` may not take it below zero. For
    # adjustments, transfers, reservations and sales.
    AVAILABLE = "AVAILABLE"
    # Physical counts: on hand must still cover what is held (reserved, committed, damaged,
    # quarantined), but may dip into safety stock. For absolute sets, imports and counts.
    PHYSICAL = "PHYSICAL"
    # A repair that makes a level say again what is true (the holds of the live
    # reservations): judged by no availability rule, since the truth may be that more is
    # held than the level showed; buckets still never go negative.
    CORRECTION = "CORRECTION"


@dataclass(frozen=True, slots=True)
class Quantities:
    """A value per stock bucket; used both as deltas and as absolute values."""

    on_hand: int = 0
    reserved: int = 0
    committed: int = 0
    incoming: int = 0
    damaged: int = 0
    quarantined: int = 0
    safety_stock: int = 0

    @property
    def available(self) -> int:
        return (
            self.on_hand
            - self.reserved
            - self.committed
            - self.damaged
            - self.quarantined
            - self.safety_stock
        )


ZERO = Quantities()


@dataclass(frozen=True, slots=True)
class Settings:
    """Absolute values a movement sets; None leaves the value as it is."""

    on_hand: int | None = None
    damaged: int | None = None
    quarantined: int | None = None
    safety_stock: int | None = None
    reorder_point: int | None = None
    reorder_quantity: int | None = None


NO_SETTINGS = Settings()
_SETTABLE = (
    "on_hand",
    "damaged",
    "quarantined",
    "safety_stock",
    "reorder_point",
    "reorder_quantity",
)


@dataclass(frozen=True, slots=True)
class Movement:
    product_id: int
    warehouse_id: int
    type: MovementType
    delta: Quantities = ZERO
    set_to: Settings = NO_SETTINGS
    rule: StockRule = StockRule.AVAILABLE
    expected_version: int | None = None
    reason: str | None = None
    reference_id: str | None = None
    channel_id: int | None = None
    reservation_id: int | None = None
    metadata: dict[str, Any] | None = None
    # The input field a failure of this movement is reported against (e.g. "lines.2").
    field: str | None = None


@dataclass(frozen=True, slots=True)
class ChangeContext:
    actor: str
    source: MovementSource
    occurred_at: datetime | None = None
    correlation_id: str | None = None
    # Create missing levels (at zero) instead of failing with NOT_FOUND: for receipts,
    # transfers into a new warehouse, imports and source-system events.
    create_missing_levels: bool = False


@dataclass(frozen=True, slots=True)
class AppliedMovement:
    """What one movement did. A movement that changed nothing wrote nothing: no ledger row
    (movement_id is None), no new version, no event; except a note (NOTE_TYPES), which
    writes its ledger row only."""

    movement_id: int | None
    change_id: int | None
    before: Quantities
    level: Level


@dataclass
class _Columns:
    """The movements laid out column by column, for unnest() in one statement."""

    values: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, name: str, value: Any) -> None:
        self.values.setdefault(name, []).append(value)


def _columns(movements: Sequence[Movement]) -> dict[str, list[Any]]:
    cols = _Columns()
    for m in movements:
        cols.add("product_id", m.product_id)
        cols.add("warehouse_id", m.warehouse_id)
        cols.add("type", str(m.type))
        for bucket in BUCKETS:
            cols.add(f"d_{bucket}", getattr(m.delta, bucket))
        for name in _SETTABLE:
            cols.add(f"set_{name}", getattr(m.set_to, name))
        cols.add("rule", str(m.rule))
        cols.add("expected_version", m.expected_version)
        cols.add("reason", m.reason)
        cols.add("reference_id", m.reference_id)
        cols.add("channel_id", m.channel_id)
        cols.add("reservation_id", m.reservation_id)
        cols.add("metadata", json.dumps(m.metadata) if m.metadata is not None else None)
    return cols.values


_INPUT_TYPES = {
    "product_id": "bigint",
    "warehouse_id": "bigint",
    "type": "text",
    **{f"d_{b}": "int" for b in BUCKETS},
    **{f"set_{s}": "int" for s in _SETTABLE},
    "rule": "text",
    "expected_version": "int",
    "reason": "text",
    "reference_id": "text",
    "channel_id": "bigint",
    "reservation_id": "bigint",
    "metadata": "jsonb",
}

_UNNEST = ",\n        ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _INPUT_TYPES.items())
# A level's value before a movement: its locked value plus the deltas of the movements before
# it on the same level in this change (several reservations expiring on one level, say).
_EARLIER = (
    "PARTITION BY m.product_id, m.warehouse_id ORDER BY m.ord"
    " ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING"
)
_SETTABLE_BUCKETS = ("on_hand", "damaged", "quarantined", "safety_stock")
_NOTES = ", ".join(f"'{t}'" for t in sorted(NOTE_TYPES))


def _before(bucket: str) -> str:
    return f"l.{bucket} + coalesce(sum(m.d_{bucket}) OVER earlier, 0) AS b_{bucket}"


def _after(bucket: str) -> str:
    moved = f"c.b_{bucket} + c.d_{bucket}"
    if bucket in _SETTABLE_BUCKETS:
        return f"COALESCE(c.set_{bucket}, {moved}) AS a_{bucket}"
    return f"{moved} AS a_{bucket}"


def _available(prefix: str) -> str:
    return (
        f"{prefix}on_hand - {prefix}reserved - {prefix}committed - {prefix}damaged"
        f" - {prefix}quarantined - {prefix}safety_stock"
    )


def _free(prefix: str) -> str:
    """On hand not held by anything: what a physical count may not go below."""
    return f"{prefix}on_hand - {prefix}reserved - {prefix}committed - {prefix}damaged" + (
        f" - {prefix}quarantined"
    )


def _payload_quantities(prefix: str) -> str:
    pairs = ", ".join(f"'{b}', j.{prefix}{b}" for b in BUCKETS)
    return f"json_build_object({pairs}, 'available', j.{prefix}available)"


_UNNEST_SOURCE = f"""SELECT * FROM unnest(
        {_UNNEST}
    ) WITH ORDINALITY AS m({", ".join(_INPUT_TYPES)}, ord)"""
# Write only when every movement passes.
_ALL_OR_NOTHING = "SELECT bool_and(failure IS NULL) AS all_ok FROM judged"
# Write nothing: judge every movement and report (for collecting every failure of a change
# that is going to be refused anyway).
_JUDGE_ONLY = "SELECT false AS all_ok"


# When a movement happened: as the caller says, else now (the transaction's start).
_OCCURRED_AT = "coalesce(CAST(:occurred_at AS timestamptz), now())"
# One INVENTORY_UPDATED event per movement written, in the ledger's own statement. It takes
# what the ledger row says from the same values the row is written from, so that the events
# need not wait for the ledger's RETURNING and join it back.
_EVENT_ROWS = f"""SELECT 'INVENTORY_UPDATED', j.product_id, j.warehouse_id, j.channel_id,
        json_build_object(
            'movementId', j.movement_id, 'changeId', (SELECT change_id FROM change),
            'levelId', j.level_id,
            'productId', j.product_id, 'warehouseId', j.warehouse_id,
            'type', j.type, 'reason', j.reason, 'source', CAST(:source AS text),
            'actor', CAST(:actor AS text), 'referenceId', j.reference_id,
            'correlationId', CAST(:correlation_id AS text), 'channelId', j.channel_id,
            'reservationId', j.reservation_id, 'occurredAt', {_OCCURRED_AT},
            'version', j.version,
            'before', {_payload_quantities("b_")}, 'after', {_payload_quantities("a_")}
        )
    FROM numbered j
    WHERE j.changed
    ORDER BY j.ord"""


# Levels this transaction has just created already holding what their movements make of them
# (an import's new levels, each moved once), named by the source's `level_id`: no other
# transaction can see them, so they are neither read nor locked, and their movements are
# judged from zero, as they would be on a level created empty (version 1), and only recorded,
# not written to the levels again. Reading nothing keeps the movements in the source's order,
# with no join to sort them for.
_CREATED_HOLDING_OUTCOME = f"""SELECT m.*, 1 AS old_version,
        CAST(NULL AS timestamptz) AS created_at, CAST(NULL AS timestamptz) AS b_updated_at,
        coalesce(w.allow_backorders, false) AS allow_backorders,
        {", ".join(f"0 AS b_{b}" for b in BUCKETS)},
        0 AS b_reorder_point, 0 AS b_reorder_quantity
    FROM m
    LEFT JOIN warehouses w ON w.id = m.warehouse_id"""
_NOT_WRITTEN = """SELECT CAST(NULL AS bigint) AS id, CAST(NULL AS int) AS version,
        CAST(NULL AS timestamptz) AS updated_at
    WHERE false"""


def _statement(
    source: str,
    tail: str,
    verdict: str = _ALL_OR_NOTHING,
    prelude: str = "",
    levels_after: str = "",
    recorded: bool = False,
) -> str:
    """The change as one statement: the movements `source` selects (its columns those of
    _INPUT_TYPES, then `ord`) are judged, written when `verdict` allows, answered by `tail`.
    `prelude`: common table expressions (each followed by a comma) that `source` may use;
    `levels_after`: one of them whose rows are locked before the levels (an init plan);
    `recorded`: the levels were created holding the outcome, and `source` also selects each
    movement's `level_id` (_CREATED_HOLDING_OUTCOME)."""
    after = f"\n      AND (SELECT count(*) FROM {levels_after}) >= 0" if levels_after else ""
    updated = f"""UPDATE inventory_levels l SET
        {", ".join(f"{b} = f.a_{b}" for b in BUCKETS)},
        reorder_point = f.a_reorder_point,
        reorder_quantity = f.a_reorder_quantity,
        version = f.new_version,
        updated_at = now()
    FROM final f
    WHERE l.id = f.level_id AND (SELECT all_ok FROM verdict)
    RETURNING l.id, l.version, l.updated_at"""
    # Each movement with its level's values before it.
    running = f"""locked AS (
    SELECT l.* FROM inventory_levels l
    WHERE (l.product_id, l.warehouse_id) IN (SELECT product_id, warehouse_id FROM m){after}
    ORDER BY l.id
    FOR UPDATE OF l
),
running AS (
    SELECT m.*, l.id AS level_id, l.version AS old_version, l.created_at,
        l.updated_at AS b_updated_at, coalesce(w.allow_backorders, false) AS allow_backorders,
        {", ".join(_before(b) for b in BUCKETS)},
        l.reorder_point AS b_reorder_point, l.reorder_quantity AS b_reorder_quantity
    FROM m
    LEFT JOIN locked l ON l.product_id = m.product_id AND l.warehouse_id = m.warehouse_id
    LEFT JOIN warehouses w ON w.id = m.warehouse_id
    WINDOW earlier AS ({_EARLIER})
)"""
    version = "count(*) FILTER (WHERE j.changed) OVER (PARTITION BY j.level_id ORDER BY j.ord)"
    if recorded:
        # Each level is moved once: its version one more when it changes (no window to sort
        # the movements by level for).
        running = f"running AS (\n    {_CREATED_HOLDING_OUTCOME}\n)"
        updated = _NOT_WRITTEN
        version = "CAST(j.changed AS int)"
    return f"""
WITH {prelude}m AS (
    {source}
),
{running},
calc AS (
    SELECT c.*,
        {", ".join(_after(b) for b in BUCKETS)},
        COALESCE(c.set_reorder_point, c.b_reorder_point) AS a_reorder_point,
        COALESCE(c.set_reorder_quantity, c.b_reorder_quantity) AS a_reorder_quantity,
        {_available("c.b_")} AS b_available
    FROM running c
),
judged AS (
    SELECT c.*, f.a_available, r.failure,
        ({" OR ".join(f"c.a_{b} <> c.b_{b}" for b in BUCKETS)}
         OR c.a_reorder_point <> c.b_reorder_point
         OR c.a_reorder_quantity <> c.b_reorder_quantity) AS changed
    FROM calc c
    CROSS JOIN LATERAL (
        SELECT {_available("c.a_")} AS a_available,
            {_free("c.b_")} AS b_free,
            {_free("c.a_")} AS a_free
    ) f
    CROSS JOIN LATERAL (
        SELECT CASE
            WHEN c.level_id IS NULL THEN 'NOT_FOUND'
            WHEN c.expected_version IS NOT NULL AND c.expected_version <> c.old_version
                THEN 'VERSION_CONFLICT'
            WHEN LEAST(c.a_reserved, c.a_committed, c.a_incoming, c.a_damaged,
                       c.a_quarantined, c.a_safety_stock) < 0 THEN 'NEGATIVE_BUCKET'
            WHEN c.allow_backorders THEN NULL
            WHEN c.a_on_hand < 0 AND c.a_on_hand < c.b_on_hand THEN 'INSUFFICIENT_STOCK'
            WHEN c.rule = 'AVAILABLE' AND f.a_available < 0 AND f.a_available < c.b_available
                THEN 'INSUFFICIENT_STOCK'
            WHEN c.rule = 'PHYSICAL' AND f.a_free < 0 AND f.a_free < f.b_free
                THEN 'INSUFFICIENT_STOCK'
        END AS failure
    ) r
),
verdict AS ({verdict}),
change AS (SELECT nextval('inventory_change_seq') AS change_id),
-- Every movement that changes a level makes a new version of it: several movements on one
-- level in one change (a batch of adjustments, say) each answer with their own.
versions AS (
    SELECT j.ord, j.old_version + {version} AS version
    FROM judged j
),
-- The movements written, each with its ledger id (taken up front so that each knows its own
-- row and event) and its version, carried whole so that the ledger rows and events are
-- written from them with no join back. Notes are written though they change nothing; the
-- rows left out change nothing, so the versions counted among these are those above.
numbered AS (
    SELECT j.*, nextval('inventory_movements_id_seq') AS movement_id,
        j.old_version + {version} AS version
    FROM judged j
    WHERE (j.changed OR j.type IN ({_NOTES})) AND (SELECT all_ok FROM verdict)
),
-- Each changed level as its last movement leaves it, with the version its movements make:
-- one sort by level, newest movement first, serves both the window and DISTINCT ON.
final AS (
    SELECT DISTINCT ON (f.level_id) f.*
    FROM (
        SELECT j.*, j.old_version + count(*) FILTER (WHERE j.changed) OVER w AS new_version,
            bool_or(j.changed) OVER w AS level_changed
        FROM judged j
        WINDOW w AS (PARTITION BY j.level_id ORDER BY j.ord DESC
                     ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
    ) f
    WHERE f.level_changed
    ORDER BY f.level_id, f.ord DESC
),
updated AS (
    {updated}
),
ledger AS (
    INSERT INTO inventory_movements (
        id, change_id, level_id, product_id, warehouse_id, type, reason, source, actor,
        reference_id, correlation_id, channel_id, reservation_id, occurred_at, metadata,
        {", ".join(f"d_{b}" for b in BUCKETS)},
        {", ".join(BUCKETS)}
    )
    SELECT j.movement_id, (SELECT change_id FROM change), j.level_id, j.product_id,
        j.warehouse_id, j.type, j.reason, :source, :actor, j.reference_id, :correlation_id,
        j.channel_id, j.reservation_id, {_OCCURRED_AT},
        j.metadata,
        {", ".join(f"j.a_{b} - j.b_{b}" for b in BUCKETS)},
        {", ".join(f"j.a_{b}" for b in BUCKETS)}
    FROM numbered j
    ORDER BY j.ord
    RETURNING id, change_id, occurred_at
),
events AS (
    {insert_events(_EVENT_ROWS)}
),
kit_events AS (
    {insert_events(KIT_EVENT_ROWS)}
)
{tail}
"""


# Stock received where preorders wait: only then is the index of waiting preorders probed,
# so other changes pay nothing (preorders/receiving.py converts them).
_PREORDERS_WAITING = """CASE
    WHEN j.failure IS NULL AND j.a_on_hand > j.b_on_hand AND j.a_available > 0
        THEN EXISTS (SELECT 1 FROM preorders p
                     WHERE p.product_id = j.product_id AND p.status = 'ACTIVE')
        ELSE false END"""
# A change made outside a transaction (group commit's one-statement way) commits with its
# statement, leaving no transaction for the conversion: it writes nothing when preorders
# wait, and the caller goes the transactional way.
_ALL_OR_NOTHING_UNLESS_PREORDERS = (
    "SELECT bool_and(j.failure IS NULL) AND NOT coalesce(bool_or("
    + _PREORDERS_WAITING
    + "), false) AS all_ok FROM judged j"
)

# Every movement's outcome, in input order.
_ROWS_TAIL = f"""SELECT j.ord, j.failure, j.level_id, j.product_id, j.warehouse_id, j.old_version,
    j.created_at, j.a_reorder_point, j.a_reorder_quantity, j.a_available, j.b_available,
    {", ".join(f"j.b_{b}, j.a_{b}" for b in BUCKETS)},
    n.movement_id, CASE WHEN n.movement_id IS NOT NULL THEN (SELECT change_id FROM change)
    END AS change_id,
    CASE WHEN n.movement_id IS NOT NULL THEN v.version ELSE coalesce(u.version, j.old_version)
    END AS version,
    coalesce(u.updated_at, j.b_updated_at) AS updated_at,
    {_PREORDERS_WAITING} AS preorders_waiting
FROM judged j
JOIN versions v ON v.ord = j.ord
LEFT JOIN numbered n ON n.ord = j.ord
LEFT JOIN updated u ON u.id = j.level_id
ORDER BY j.ord"""

_APPLY_SQL = _statement(_UNNEST_SOURCE, _ROWS_TAIL)

# The columns a source of movements selects, in order (then `ord`), with their types.
MOVEMENT_COLUMNS = dict(_INPUT_TYPES)


def embedded_change_sql(prelude: str, source: str, tail: str, levels_after: str = "") -> str:
    """A ledger change inside a statement of its own (reservations made in one round trip):
    `prelude` CTEs (each followed by a comma), a `source` of movements (MOVEMENT_COLUMNS, then
    `ord`), and a `tail` that may add CTEs (starting with a comma) before its final SELECT.
    `verdict` (all_ok) tells the tail whether the change was written; `levels_after`: a
    prelude CTE whose rows are locked before the levels. A tail may select FAILURE_COLUMNS
    from `judged j` for `refusal`."""
    return _statement(source, tail, prelude=prelude, levels_after=levels_after)


# What `refusal` needs of a movement that failed, as the columns of `judged j`.
FAILURE_COLUMNS = f"""j.ord, j.failure, j.product_id, j.warehouse_id, j.type, j.rule,
    j.expected_version, j.old_version, j.a_available, j.b_available,
    {", ".join(f"j.b_{b}, j.a_{b}" for b in BUCKETS)}"""


def refusal(rows: Sequence[Any]) -> DomainError:
    """The error of an embedded change refused by the ledger: rows of FAILURE_COLUMNS, one
    per failed movement."""
    return DomainError(*(_problem(_staged_movement(row), row) for row in rows))


def _waiting_channels(products: str) -> str:
    """The channel x product pairs of the preorders waiting for `products` (a subquery)."""
    return f"""SELECT DISTINCT p.channel_id, p.product_id FROM preorders p
    WHERE p.product_id IN ({products})
      AND p.status = 'ACTIVE' AND p.channel_id IS NOT NULL"""


def _lock_channel_rows(waiting: str) -> str:
    """Lock the `waiting` pairs' channel x product rows (made when missing), in key order."""
    return f"""INSERT INTO channel_inventory AS ci (channel_id, product_id)
    {waiting}
    ORDER BY 1, 2
    ON CONFLICT (channel_id, product_id) DO UPDATE SET held = ci.held
    RETURNING ci.channel_id, ci.product_id"""


def _lock_free_channel_rows(waiting: str) -> str:
    """Lock those of the `waiting` pairs' rows that exist and are free at once."""
    return f"""SELECT ci.channel_id, ci.product_id FROM channel_inventory ci
    WHERE (ci.channel_id, ci.product_id) IN ({waiting})
    FOR NO KEY UPDATE OF ci SKIP LOCKED"""


# The preorders waiting for the products a change may raise on-hand stock of (a delta up, or
# a set).
_WAITING_FOR_RECEIVED = _waiting_channels(
    """SELECT r.product_id FROM unnest(CAST(:product_id AS bigint[]),
                CAST(:d_on_hand AS int[]), CAST(:set_on_hand AS int[])) AS r(product_id, d, s)
            WHERE r.d > 0 OR r.s IS NOT NULL"""
)

# A change that may raise on-hand stock where preorders wait locks, before its levels, the
# channel x product rows of those preorders (made when missing), in the order every
# reservation path keeps: channel x product rows, then levels. Converting the preorders
# raises those channels' `held` after the levels are locked; were the rows not locked
# already, a receipt would take them in the reverse of a reservation's order and could
# deadlock with one. A change raising no on hand probes nothing.
_PREORDER_CHANNELS = f"preorder_channels AS ({_lock_channel_rows(_WAITING_FOR_RECEIVED)}),\n"
# The same for a change whose transaction already holds levels (an earlier change of it, as
# in a group-committed batch): waiting for a channel row now could deadlock with a
# reservation holding it and waiting for those levels. Only the rows free at once are taken
# (SKIP LOCKED); the preorders of the others wait for the next receipt, as if placed after
# this one. No row is made: inserting one waits for a reservation inserting the same, so a
# preorder makes its channel's row when placed (preorders/placing.py).
_FREE_PREORDER_CHANNELS = (
    f"preorder_channels AS ({_lock_free_channel_rows(_WAITING_FOR_RECEIVED)}),\n"
)

# Made once: building a text() clause parses its SQL for parameters on every call.
_APPLY = text(_APPLY_SQL)
# A change in a transaction: its rows also say which preorders' channel rows it locked.
_ROWS_AND_PREORDER_CHANNELS_TAIL = _ROWS_TAIL.replace(
    "\nFROM judged j",
    ",\n    (SELECT coalesce(json_agg(json_build_array(pc.channel_id, pc.product_id)),"
    " '[]') FROM preorder_channels pc) AS preorder_channels\nFROM judged j",
    1,
)
# The usual one, and one after an earlier change of its transaction locked levels.
_APPLY_LOCKING_PREORDER_CHANNELS = text(
    _statement(
        _UNNEST_SOURCE,
        _ROWS_AND_PREORDER_CHANNELS_TAIL,
        prelude=_PREORDER_CHANNELS,
        levels_after="preorder_channels",
    )
)
_APPLY_LOCKING_FREE_PREORDER_CHANNELS = text(
    _statement(
        _UNNEST_SOURCE,
        _ROWS_AND_PREORDER_CHANNELS_TAIL,
        prelude=_FREE_PREORDER_CHANNELS,
        levels_after="preorder_channels",
    )
)
_APPLY_ALONE = text(
    _statement(_UNNEST_SOURCE, _ROWS_TAIL, verdict=_ALL_OR_NOTHING_UNLESS_PREORDERS)
)

# Only for products and warehouses that exist, and never for a kit (it holds no stock): the
# others stay NOT_FOUND.
_CREATE_MISSING_SQL = """
INSERT INTO inventory_levels (product_id, warehouse_id)
SELECT m.p, m.w
FROM unnest(CAST(:product_id AS bigint[]), CAST(:warehouse_id AS bigint[])) AS m(p, w)
JOIN products ON products.id = m.p AND NOT products.is_kit
JOIN warehouses ON warehouses.id = m.w
ORDER BY m.p, m.w
ON CONFLICT (product_id, warehouse_id) DO NOTHING
"""

_OUT_OF_RANGE = "22003"

# The same locks, for a caller that locks levels itself before its change (a count).
_WAITING_FOR_PRODUCTS = _waiting_channels("SELECT unnest(CAST(:products AS bigint[]))")
_LOCK_PREORDER_CHANNELS = text(_lock_channel_rows(_WAITING_FOR_PRODUCTS))
_LOCK_FREE_PREORDER_CHANNELS = text(_lock_free_channel_rows(_WAITING_FOR_PRODUCTS))


async def apply_change(
    conn: AsyncConnection,
    movements: Sequence[Movement],
    context: ChangeContext,
    channels_locked: set[tuple[int, int]] | None = None,
) -> list[AppliedMovement]:
    """Apply every movement or none. Returns what each did, in input order.

    `channels_locked`: from a caller that locked the levels itself (a count), the channel x
    product rows of waiting preorders it locked before them (`lock_preorder_channels`);
    locking more now, after the levels, could deadlock with a reservation."""
    if not movements:
        return []
    _refuse_repeated_sets(movements)
    columns = _columns(movements)
    params = {
        **columns,
        "source": str(context.source),
        "actor": context.actor,
        "correlation_id": context.correlation_id,
        "occurred_at": context.occurred_at,
    }
    alone = autocommit(conn)
    # A count locked the preorders' channel rows itself (channels_locked): the usual
    # statement, which locks none after its levels.
    locking = not alone and channels_locked is None
    if alone:
        statement = _APPLY_ALONE
    elif not locking:
        statement = _APPLY
    elif _holds_levels(conn):
        statement = _APPLY_LOCKING_FREE_PREORDER_CHANNELS
    else:
        statement = _APPLY_LOCKING_PREORDER_CHANNELS
    try:
        rows = (await conn.execute(statement, params)).mappings().all()
        missing = [row for row in rows if row["failure"] == "NOT_FOUND"]
        if missing and context.create_missing_levels:
            # Levels are created only when needed, so the usual change stays one statement.
            # The first attempt wrote nothing, so running it again is safe.
            await conn.execute(
                text(_CREATE_MISSING_SQL),
                {
                    "product_id": [row["product_id"] for row in missing],
                    "warehouse_id": [row["warehouse_id"] for row in missing],
                },
            )
            rows = (await conn.execute(statement, params)).mappings().all()
    except DBAPIError as error:
        raise _translate(error, movements) from error
    failures = [_problem(movements[row["ord"] - 1], row) for row in rows if row["failure"]]
    if failures:
        raise await kit_refusals(conn, movements, rows, DomainError(*failures))
    if not alone:
        _note_levels_held(conn)
    if locking:
        channels_locked = {
            (channel_id, product_id)
            for channel_id, product_id in _loads(rows[0]["preorder_channels"])
        }
    received = {
        (row["product_id"], row["warehouse_id"]): None for row in rows if row["preorders_waiting"]
    }
    if received and alone:
        raise DomainError.of(
            ErrorCode.INVALID_TRANSITION,
            "stock received where preorders wait is applied in a transaction",
            movements[0].field,
        )
    if received:
        await _convert_preorders(conn, list(received), channels_locked or set(), context)
    return [_applied(row) for row in rows]


# conn.info key: the transaction in which a change locked levels (a weak reference to it).
_LEVELS_HELD_BY = "onhand.ledger.levels_held_by"


def _holds_levels(conn: AsyncConnection) -> bool:
    """Whether an earlier change of this transaction locked levels. It holds them to its end,
    unless the savepoint of that change was rolled back: then this says so wrongly, which
    only makes the next change wait for fewer channel rows."""
    held_by = conn.info.get(_LEVELS_HELD_BY)
    return held_by is not None and held_by() is _transaction(conn)


def _note_levels_held(conn: AsyncConnection) -> None:
    conn.info[_LEVELS_HELD_BY] = weakref.ref(_transaction(conn))


def _transaction(conn: AsyncConnection) -> Any:
    sync = conn.sync_connection
    return sync.get_transaction() if sync is not None else None


async def lock_preorder_channels(
    conn: AsyncConnection, product_ids: Sequence[int]
) -> set[tuple[int, int]]:
    """Lock the channel x product rows of the preorders waiting for these products, as a
    change's statement does before its levels (_PREORDER_CHANNELS). A caller that locks
    levels itself before a change that may receive stock (a count) calls this first, and
    gives what it returns to apply_change."""
    if not product_ids:
        return set()
    # As in a change: after levels this transaction holds, only the rows free at once.
    statement = _LOCK_FREE_PREORDER_CHANNELS if _holds_levels(conn) else _LOCK_PREORDER_CHANNELS
    rows = await conn.execute(statement, {"products": sorted(set(product_ids))})
    return {(row.channel_id, row.product_id) for row in rows}


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def _convert_preorders(
    conn: AsyncConnection,
    received: Sequence[tuple[int, int]],
    channels_locked: set[tuple[int, int]],
    context: ChangeContext,
) -> None:
    """Stock came where preorders wait: what fits becomes ORDER reservations, committed
    here, in the receipt's own change (they take only what the receipt made available)."""
    converted = await convert_waiting(conn, received, channels_locked, context.actor)
    await apply_change(
        conn,
        [
            Movement(
                c.product_id,
                c.warehouse_id,
                MovementType.COMMITTED,
                Quantities(committed=c.quantity),
                reason="preorder converted",
                reference_id=c.reference_id,
                channel_id=c.channel_id,
                reservation_id=c.reservation_id,
            )
            for c in converted
        ],
        context,
    )


def _refuse_repeated_sets(movements: Sequence[Movement]) -> None:
    """A level may appear several times in a change only with deltas: an absolute set in a
    sequence of movements on one level would make the running sums meaningless."""
    counts = Counter((m.product_id, m.warehouse_id) for m in movements)
    for m in movements:
        if counts[(m.product_id, m.warehouse_id)] > 1 and m.set_to != NO_SETTINGS:
            raise ValueError(
                f"level {(m.product_id, m.warehouse_id)} appears more than once in a change;"
                " only delta movements may repeat a level"
            )


def _applied(row: Any) -> AppliedMovement:
    before = Quantities(**{b: row[f"b_{b}"] for b in BUCKETS})
    level = Level(
        id=row["level_id"],
        product_id=row["product_id"],
        warehouse_id=row["warehouse_id"],
        **{b: row[f"a_{b}"] for b in BUCKETS},
        reorder_point=row["a_reorder_point"],
        reorder_quantity=row["a_reorder_quantity"],
        available=row["a_available"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
    return AppliedMovement(row["movement_id"], row["change_id"], before, level)


def _problem(movement: Movement, row: Any) -> Problem:
    failure = row["failure"]
    where = movement.field
    if failure == "NOT_FOUND":
        return Problem(
            ErrorCode.NOT_FOUND,
            f"product {movement.product_id} is not stocked at warehouse"
            f" {movement.warehouse_id}; create its inventory level first",
            where,
        )
    if failure == "VERSION_CONFLICT":
        return Problem(
            ErrorCode.VERSION_CONFLICT,
            f"the inventory level is at version {row['old_version']}, not"
            f" {movement.expected_version}; read it again and retry",
            where,
            {"current_version": row["old_version"]},
        )
    if failure == "NEGATIVE_BUCKET":
        bucket = next(b for b in BUCKETS if b != "on_hand" and row[f"a_{b}"] < 0)
        return Problem(
            ErrorCode.INSUFFICIENT_STOCK,
            f"only {row[f'b_{bucket}']} {bucket.replace('_', ' ')} at this level",
            where,
            {"available": max(0, row["b_available"]), "bucket": bucket},
        )
    measure = _row_available if movement.rule == StockRule.AVAILABLE else _row_free
    available = max(0, measure(row, "b_"))
    requested = max(0, measure(row, "b_") - measure(row, "a_"))
    return Problem(
        ErrorCode.INSUFFICIENT_STOCK,
        f"insufficient stock: {requested} requested, {available} available",
        where,
        {"available": available, "requested": requested},
    )


def _row_free(row: Any, prefix: str) -> int:
    return int(
        row[f"{prefix}on_hand"]
        - row[f"{prefix}reserved"]
        - row[f"{prefix}committed"]
        - row[f"{prefix}damaged"]
        - row[f"{prefix}quarantined"]
    )


def _row_available(row: Any, prefix: str) -> int:
    return int(row[f"{prefix}available"])


def _translate(error: DBAPIError, movements: Sequence[Movement]) -> Exception:
    sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    if sqlstate == _OUT_OF_RANGE:
        return DomainError.of(
            ErrorCode.QUANTITY_OUT_OF_RANGE,
            "the change would take a quantity beyond 2,147,483,647",
            movements[0].field if movements else None,
        )
    return error


# -- Bulk changes ---------------------------------------------------------------------------
# A change too large to pass as arrays (an import of 200,000 rows) is staged in a temporary
# table, made by one CREATE TABLE ... AS SELECT, and applied slice by slice (ord ranges) by
# the same statement as above: the same locking, judging, ledger rows and events. It answers
# with counts and failures instead of every movement's outcome, which would cost more to send
# and decode than the change itself. The caller stages each level at most once and applies
# the slices of one change in one transaction, in ord order (stage in level id order, and the
# locks of successive slices are taken in id order too).

STAGED = "staged_movements"

# Defaults as Movement's: no delta, nothing set, the AVAILABLE rule.
_STAGED_DEFAULTS = {**{f"d_{b}": "0" for b in BUCKETS}, "rule": "'AVAILABLE'"}


def staged_movement_columns(values: Mapping[str, str]) -> str:
    """The select list of staged movements: every column of a Movement (product_id,
    warehouse_id, type, d_<bucket>, set_<value>, rule, expected_version, reason, reference_id,
    channel_id, reservation_id, metadata), each the SQL expression `values` gives it, else its
    default."""
    unknown = set(values) - set(_INPUT_TYPES)
    if unknown:
        raise ValueError(f"not columns of a movement: {sorted(unknown)}")
    return ", ".join(
        f"CAST({values.get(name, _STAGED_DEFAULTS.get(name, 'NULL'))} AS {kind}) AS {name}"
        for name, kind in _INPUT_TYPES.items()
    )


def _staged_source(recorded: bool) -> str:
    """The staged movements of a slice; with their `level_id` where their levels were created
    holding the outcome (which names them)."""
    level = ", level_id" if recorded else ""
    return (
        f"SELECT {', '.join(_INPUT_TYPES)}, ord{level} FROM {STAGED}"
        " WHERE ord BETWEEN :first AND :last"
    )


# One row of counts, joined with one row per failure (none when all pass).
_SUMMARY_TAIL = f"""SELECT t.total, t.changed, t.written,
    CASE WHEN t.written > 0 THEN (SELECT change_id FROM change) END AS change_id, f.*
FROM (
    SELECT count(*) AS total, count(*) FILTER (WHERE changed AND failure IS NULL) AS changed,
        (SELECT count(*) FROM numbered) AS written
    FROM judged
) t
LEFT JOIN LATERAL (
    SELECT j.ord, j.failure, j.product_id, j.warehouse_id, j.type, j.rule, j.expected_version,
        j.old_version, j.a_available, j.b_available,
        {", ".join(f"j.b_{b}, j.a_{b}" for b in BUCKETS)}
    FROM judged j WHERE j.failure IS NOT NULL
) f ON true
ORDER BY f.ord"""
# By (judging only, levels created holding the outcome).
_STAGED_SQL = {
    (judge_only, recorded): _statement(
        _staged_source(recorded),
        _SUMMARY_TAIL,
        verdict=_JUDGE_ONLY if judge_only else _ALL_OR_NOTHING,
        recorded=recorded,
    )
    for judge_only in (False, True)
    for recorded in (False, True)
}
_CREATE_MISSING_STAGED_SQL = f"""
INSERT INTO inventory_levels (product_id, warehouse_id)
SELECT m.product_id, m.warehouse_id
FROM {STAGED} m
JOIN products ON products.id = m.product_id AND NOT products.is_kit
JOIN warehouses ON warehouses.id = m.warehouse_id
WHERE m.ord BETWEEN :first AND :last
ORDER BY m.product_id, m.warehouse_id
ON CONFLICT (product_id, warehouse_id) DO NOTHING
"""


@dataclass(frozen=True, slots=True)
class StagedFailure:
    ord: int
    problem: Problem


@dataclass(frozen=True, slots=True)
class StagedOutcome:
    total: int  # movements judged
    changed: int  # movements that pass and change something
    written: int  # ledger rows written (0 when any failed, or when only judging)
    change_id: int | None
    failures: list[StagedFailure]


async def stage_movements(
    conn: AsyncConnection, select: str, params: Mapping[str, Any] | None = None
) -> int:
    """Stage a bulk change: the temporary table (dropped at commit) made by `select`, which
    gives each movement its `ord` (from 1, its primary key), staged_movement_columns, and
    `level_id` (read only by apply_staged(recorded=True)); any other column it gives stays
    beside the movement for the caller. Made by the caller's own statement, so that one
    statement can create levels and stage their movements. Returns the rows staged."""
    result = await conn.execute(
        text(f"CREATE TEMP TABLE {STAGED} ON COMMIT DROP AS {select}"), dict(params or {})
    )
    await conn.execute(text(f"ALTER TABLE {STAGED} ADD PRIMARY KEY (ord)"))
    return result.rowcount or 0


async def apply_staged(
    conn: AsyncConnection,
    context: ChangeContext,
    first: int,
    last: int,
    *,
    judge_only: bool = False,
    recorded: bool = False,
) -> StagedOutcome:
    """Apply the staged movements with ord in [first, last], all or none (or, judging only,
    none: to learn every failure of a change that is going to be refused anyway).
    `recorded`: their levels were created by this transaction already holding what the
    movements make of them (each level moved once, from zero, version 2 when that changes
    anything): the movements are judged and recorded, the levels neither locked nor
    written again. A first load's levels cost one write each, not three (insert, lock,
    update)."""
    params = {
        "first": first,
        "last": last,
        "source": str(context.source),
        "actor": context.actor,
        "correlation_id": context.correlation_id,
        "occurred_at": context.occurred_at,
    }
    try:
        if context.create_missing_levels and not judge_only and not recorded:
            await conn.execute(text(_CREATE_MISSING_STAGED_SQL), params)
        statement = _STAGED_SQL[judge_only, recorded]
        rows = (await conn.execute(text(statement), params)).mappings().all()
    except DBAPIError as error:
        raise _translate(error, ()) from error
    counts = rows[0]
    failures = [
        StagedFailure(row["ord"], _problem(_staged_movement(row), row))
        for row in rows
        if row["failure"] is not None
    ]
    return StagedOutcome(
        total=counts["total"],
        changed=counts["changed"],
        written=counts["written"],
        change_id=counts["change_id"],
        failures=failures,
    )


def _staged_movement(row: Any) -> Movement:
    """Enough of the failed movement to describe its failure."""
    return Movement(
        row["product_id"],
        row["warehouse_id"],
        MovementType(row["type"]),
        rule=StockRule(row["rule"]),
        expected_version=row["expected_version"],
    )
