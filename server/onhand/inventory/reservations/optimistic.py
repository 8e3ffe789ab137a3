"""Making reservations in one round trip while locks are held (the coalescer's fast path).

reserving.reserve_many locks the channel x product rows and the levels, judges the requests
in Python, then writes: the locks of a hot product are held across four round trips and the
event loop's other work between them. Here the requests are judged on the same rows read
without locks, and everything is written by ONE statement in its own transaction, which

1. locks the rows, in the order every reservation path keeps (channel x product rows, then
   levels in id order);
2. checks that nothing the judgement relied on has shrunk too much: for each channel x
   product, its allocation and buffer are unchanged and its available-to-sell, read as `ats`,
   has lost at most what the batch leaves over (`ats - needed`) since, bounded by how much
   its warehouses' sellable stock fell and how much its `held` rose (ATS can fall by no more
   than the larger of the two); each level's own availability is checked by the ledger;
3. only then writes the reservations, the channels' `held`, the ledger movements with the
   level updates, and the events; otherwise it writes nothing.

Nothing written (another writer took what the judgement counted on, or made the channel x
product row this statement was making, a refusal by the ledger): the batch goes the locked
way instead, which gives the exact answer. With stock to spare, as on a hot product that is
selling, the check passes and the lock is held for one statement and its commit only.

Refusals judged on the unlocked read stand: the stock they saw missing was taken by
committed reservations. Requests with idempotency keys and batches with a partly reserved
cart go the locked way, and so do requests for pickup (reservations/pickup.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from onhand.core.errors import DomainError
from onhand.db.transactions import RETRYABLE, sqlstate
from onhand.inventory.kits.holds import has_kits
from onhand.inventory.ledger import MOVEMENT_COLUMNS, ChangeContext, embedded_change_sql
from onhand.inventory.reservations.model import (
    ChangeKind,
    Reservation,
    ReservationType,
    event_insert,
)
from onhand.inventory.reservations.requests import (
    Hold,
    Reserved,
    ReserveRequest,
    Resolved,
    Terms,
)
from onhand.inventory.reservations.reserving import (
    hold_columns,
    judge_all,
    resolve_with,
    validated,
)
from onhand.inventory.reservations.state import State

_PRELUDE = """
h AS MATERIALIZED (
    SELECT * FROM unnest(CAST(:h_product AS bigint[]), CAST(:h_warehouse AS bigint[]),
        CAST(:h_channel AS bigint[]), CAST(:h_quantity AS int[]), CAST(:h_movement AS text[]),
        CAST(:h_type AS text[]), CAST(:h_reference AS text[]), CAST(:h_variant AS text[]),
        CAST(:h_expires_at AS timestamptz[]), CAST(:h_ttl AS float8[]))
        WITH ORDINALITY AS h(product_id, warehouse_id, channel_id, quantity, movement, type,
            reference_id, variant_id, expires_at, ttl, ord)
),
wc AS (
    SELECT * FROM unnest(CAST(:c_channel AS bigint[]), CAST(:c_product AS bigint[]),
        CAST(:c_protected AS boolean[]), CAST(:c_ats AS int[]), CAST(:c_held AS int[]),
        CAST(:c_allocated AS int[]), CAST(:c_buffer AS int[]), CAST(:c_needed AS int[]))
        AS c(channel_id, product_id, protected, ats, held, allocated, buffer, needed)
),
wl AS (
    SELECT * FROM unnest(CAST(:w_channel AS bigint[]), CAST(:w_product AS bigint[]),
        CAST(:w_warehouse AS bigint[]), CAST(:w_available AS int[]))
        AS w(channel_id, product_id, warehouse_id, available)
),
channel_rows AS (
    SELECT ci.channel_id, ci.product_id, ci.allocated, ci.buffer, ci.held
    FROM channel_inventory ci
    WHERE (ci.channel_id, ci.product_id) IN (SELECT channel_id, product_id FROM wc)
    ORDER BY ci.channel_id, ci.product_id
    FOR UPDATE
),
level_rows AS (
    SELECT l.product_id, l.warehouse_id, l.available
    FROM inventory_levels l
    WHERE (l.product_id, l.warehouse_id) IN (
            SELECT product_id, warehouse_id FROM wl
            UNION SELECT product_id, warehouse_id FROM h)
      -- An init plan: the channel rows above are locked before any level.
      AND (SELECT count(*) FROM channel_rows) >= 0
    ORDER BY l.id
    FOR UPDATE
),
shrunk AS (
    SELECT wl.channel_id, wl.product_id,
        sum(greatest(0, greatest(0, wl.available) - greatest(0, coalesce(l.available, 0))))
            AS physical
    FROM wl LEFT JOIN level_rows l
        ON l.product_id = wl.product_id AND l.warehouse_id = wl.warehouse_id
    GROUP BY wl.channel_id, wl.product_id
),
checked AS MATERIALIZED (
    -- A channel x product row still missing holds nothing and allocates nothing.
    SELECT coalesce(bool_and(
        NOT c.protected OR (
            a.allocated IS NOT DISTINCT FROM c.allocated
            AND a.buffer IS NOT DISTINCT FROM c.buffer
            AND c.needed <= c.ats - greatest(coalesce(s.physical, 0), coalesce(a.held, 0) - c.held))
    ), true) AS ok
    FROM wc c
    LEFT JOIN channel_rows a ON a.channel_id = c.channel_id AND a.product_id = c.product_id
    LEFT JOIN shrunk s ON s.channel_id = c.channel_id AND s.product_id = c.product_id
),
"""

# The movements: one per hold, each with its reservation's id taken up front.
_MOVEMENT_VALUES = {
    "product_id": "h.product_id",
    "warehouse_id": "h.warehouse_id",
    "type": "h.movement",
    "d_reserved": "CASE WHEN h.movement = 'RESERVED' THEN h.quantity ELSE 0 END",
    "d_committed": "CASE WHEN h.movement = 'COMMITTED' THEN h.quantity ELSE 0 END",
    "rule": "'AVAILABLE'",
    "reference_id": "h.reference_id",
    "channel_id": "h.channel_id",
    "reservation_id": "nextval('reservations_id_seq')",
}
_SOURCE = (
    "SELECT "
    + ", ".join(
        f"{_MOVEMENT_VALUES.get(name, '0' if name.startswith('d_') else 'NULL')}::{kind} AS {name}"
        for name, kind in MOVEMENT_COLUMNS.items()
    )
    + ", h.ord FROM h WHERE (SELECT ok FROM checked) ORDER BY h.ord"
)
_TAIL = f""",
made AS (
    INSERT INTO reservations (id, type, product_id, warehouse_id, channel_id, quantity,
        reference_id, variant_id, expires_at, actor)
    SELECT m.reservation_id, h.type, h.product_id, h.warehouse_id, h.channel_id, h.quantity,
        h.reference_id, h.variant_id,
        coalesce(h.expires_at, now() + h.ttl * interval '1 second'), :actor
    FROM m JOIN h ON h.ord = m.ord
    WHERE (SELECT all_ok FROM verdict)
    ORDER BY m.ord
    RETURNING *
),
by_channel AS (
    SELECT channel_id, product_id, sum(quantity) AS quantity FROM made
    WHERE channel_id IS NOT NULL GROUP BY channel_id, product_id
),
held AS (
    UPDATE channel_inventory ci SET held = ci.held + d.quantity
    FROM by_channel d
    WHERE ci.channel_id = d.channel_id AND ci.product_id = d.product_id
),
-- A product's first hold on a channel goes the locked way (see reserve_many_at_once): this
-- makes a row only were one gone between the read and the write.
first_held AS (
    INSERT INTO channel_inventory (channel_id, product_id, held)
    SELECT d.channel_id, d.product_id, d.quantity FROM by_channel d
    WHERE NOT EXISTS (SELECT 1 FROM channel_rows a
                      WHERE a.channel_id = d.channel_id AND a.product_id = d.product_id)
    ORDER BY d.channel_id, d.product_id
),
reservation_events AS ({event_insert("r", ChangeKind.CREATED, "made")})
SELECT m.ord, made.* FROM made JOIN m ON m.reservation_id = made.id ORDER BY m.ord
"""
_WRITE = text(embedded_change_sql(_PRELUDE, _SOURCE, _TAIL))

log = logging.getLogger(__name__)


@dataclass
class _Watched:
    """What the judgement relied on, column by column for the write's check."""

    channels: dict[str, list[Any]] = field(
        default_factory=lambda: {
            name: []
            for name in ("channel", "product", "protected", "ats", "held", "allocated", "buffer")
        }
    )
    levels: dict[str, list[Any]] = field(
        default_factory=lambda: (
            {name: [] for name in ("channel", "product", "warehouse")} | {"available": []}
        )
    )
    pairs: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def of(cls, resolved: Sequence[Resolved], state: State) -> _Watched:
        """Read before judging: state.taken is still empty."""
        watched = cls()
        for item in resolved:
            channel = item.channel
            if channel is None:
                continue
            for product_id in dict.fromkeys(item.products):
                if (channel.id, product_id) in watched.pairs:
                    continue
                watched.pairs.append((channel.id, product_id))
                allocation = state.allocations.get((channel.id, product_id))
                protected = channel.oversell_protection
                for name, value in (
                    ("channel", channel.id),
                    ("product", product_id),
                    ("protected", protected),
                    ("ats", state.ats(channel, product_id, {}) if protected else 0),
                    ("held", allocation.held if allocation else 0),
                    ("allocated", allocation.allocated if allocation else None),
                    ("buffer", allocation.buffer if allocation else None),
                ):
                    watched.channels[name].append(value)
                if not protected:
                    continue
                for warehouse_id in state.candidates(channel, product_id):
                    watched.levels["channel"].append(channel.id)
                    watched.levels["product"].append(product_id)
                    watched.levels["warehouse"].append(warehouse_id)
                    watched.levels["available"].append(
                        state.stock[(product_id, warehouse_id)].available
                    )
        return watched

    def params(self, holds: Sequence[Hold]) -> dict[str, Any]:
        needed = dict.fromkeys(self.pairs, 0)
        for hold in holds:
            if hold.channel_id is not None:
                needed[(hold.channel_id, hold.product_id)] += hold.quantity
        return {
            **{f"c_{name}": values for name, values in self.channels.items()},
            "c_needed": [needed[pair] for pair in self.pairs],
            **{f"w_{name}": values for name, values in self.levels.items()},
        }


async def reserve_many_at_once(
    engine: AsyncEngine,
    requests: Sequence[ReserveRequest],
    context: ChangeContext,
    terms: Terms,
) -> list[Reserved | DomainError] | None:
    """Each request's outcome, as reserving.reserve_many would give it, or None when this
    way does not apply or wrote nothing: then the caller goes the locked way."""
    if any(r.idempotency_key is not None or r.pickup_location is not None for r in requests):
        return None
    outcomes: list[Reserved | DomainError | None] = [None] * len(requests)
    for i, request in enumerate(requests):
        try:
            validated(request, terms)
        except DomainError as error:
            outcomes[i] = error
    async with engine.connect() as conn:
        # No transaction around the reads: each statement commits on its own, and the write
        # below is one statement, so that no lock outlives it.
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        try:
            pending = [r for i, r in enumerate(requests) if outcomes[i] is None]
            lookups, state = await State.read(conn, pending, terms.utilization)
        except DBAPIError:
            return None  # the locked way will meet the same trouble, and report it
        resolved = resolve_with(lookups, requests, outcomes)
        if has_kits(resolved, state):
            return None  # a kit's components are judged under the locks (kits/holds.py)
        if state.purchase_limits:
            return None  # a limited product: counted only under the lock (limits.py)
        watched = _Watched.of(list(resolved.values()), state)
        holds = judge_all(resolved, state, outcomes)
        if any(isinstance(o, Reserved) and o.failures for o in outcomes):
            return None  # a partly reserved cart: judged under the locks only
        if any(
            h.channel_id is not None and (h.channel_id, h.product_id) not in state.allocations
            for h in holds
        ):
            # A product's first hold on a channel: its channel x product row is made by the
            # locked way, before the levels. Made here, after the levels are locked, it would
            # wait on a writer making the same row under the usual order, and deadlock.
            return None
        if holds:
            try:
                rows = (
                    await conn.execute(
                        _WRITE,
                        {
                            **_hold_params(holds, resolved, terms),
                            **watched.params(holds),
                            "source": str(context.source),
                            "actor": context.actor,
                            "correlation_id": context.correlation_id,
                            "occurred_at": context.occurred_at,
                        },
                    )
                ).all()
            except DBAPIError as error:
                state_code = sqlstate(error)
                if state_code is None:
                    raise  # the connection failed: the write may have taken effect
                if state_code in RETRYABLE:
                    log.warning("a reservation write met %s and goes the locked way", state_code)
                return None  # refused by the database (a deadlock, say): nothing written
            if len(rows) != len(holds):
                return None
            for hold, row in zip(holds, rows, strict=True):
                outcome = outcomes[hold.request]
                assert isinstance(outcome, Reserved)
                outcome.reservations.append(Reservation.from_row(row))
    done = [o for o in outcomes if o is not None]
    assert len(done) == len(outcomes), "every request was answered"
    return done


def _hold_params(
    holds: Sequence[Hold], resolved: dict[int, Resolved], terms: Terms
) -> dict[str, list[Any]]:
    made = hold_columns(holds, resolved, terms)
    return {
        "h_product": made["product_id"],
        "h_warehouse": made["warehouse_id"],
        "h_channel": made["channel_id"],
        "h_quantity": made["quantity"],
        "h_movement": [
            "COMMITTED" if kind == str(ReservationType.ORDER) else "RESERVED"
            for kind in made["type"]
        ],
        "h_type": made["type"],
        "h_reference": made["reference_id"],
        "h_variant": made["variant_id"],
        "h_expires_at": made["expires_at"],
        "h_ttl": made["ttl"],
    }
