-- The physical limit of the expiry sweeper: the fewest durable writes a batch of expiries
-- needs, in onhand's own tables (same indexes, constraints and triggers), as ONE set-based
-- statement per batch, judging nothing:
--
--   the due reservations claimed (FOR UPDATE SKIP LOCKED) and marked EXPIRED;
--   their channel x product rows' holds, one update per row;
--   their levels' reserved bucket and version, one update per level;
--   one ledger row per reservation (before/after of every bucket, several on one level
--   in order);
--   two outbox events per reservation (RESERVATION_CHANGED and INVENTORY_UPDATED).
--
-- bench/reserve.py installs it in a copy of the benchmark database and calls it from as
-- many connections as the sweeper has transactions at once, until a call expires nothing.
CREATE OR REPLACE FUNCTION bench_expire(p_batch int) RETURNS bigint LANGUAGE sql AS $$
WITH claimed AS MATERIALIZED (
    SELECT r.id, r.product_id, r.warehouse_id, r.channel_id, r.reference_id,
        r.quantity - r.fulfilled_quantity AS amount
    FROM reservations r
    WHERE r.status = 'ACTIVE' AND r.expires_at IS NOT NULL AND r.expires_at <= now()
    ORDER BY r.expires_at LIMIT p_batch
    FOR UPDATE SKIP LOCKED
),
changed AS (
    UPDATE reservations r SET status = 'EXPIRED', ended_at = now(), updated_at = now(),
        version = r.version + 1
    FROM claimed c WHERE r.id = c.id
    RETURNING r.*
),
-- Several sweepers at once: channel x product rows, then levels, each in one order.
channel_rows AS (
    SELECT ci.id FROM channel_inventory ci
    WHERE (ci.channel_id, ci.product_id) IN (SELECT channel_id, product_id FROM claimed)
    ORDER BY ci.channel_id, ci.product_id
    FOR UPDATE
),
level_rows AS (
    SELECT l.id FROM inventory_levels l
    WHERE (l.product_id, l.warehouse_id) IN (SELECT product_id, warehouse_id FROM claimed)
      AND (SELECT count(*) FROM channel_rows) >= 0
    ORDER BY l.id
    FOR UPDATE
),
held AS (
    UPDATE channel_inventory ci SET held = ci.held - d.amount
    FROM (SELECT channel_id, product_id, sum(amount) AS amount FROM claimed
          WHERE channel_id IS NOT NULL GROUP BY 1, 2) d
    WHERE ci.channel_id = d.channel_id AND ci.product_id = d.product_id
),
levels AS (
    UPDATE inventory_levels l SET reserved = l.reserved - d.amount,
        version = l.version + d.moves, updated_at = now()
    FROM (SELECT product_id, warehouse_id, sum(amount) AS amount, count(*) AS moves
          FROM claimed GROUP BY 1, 2) d
    WHERE l.product_id = d.product_id AND l.warehouse_id = d.warehouse_id
      AND (SELECT count(*) FROM level_rows) >= 0
    RETURNING l.*, d.amount AS total, d.moves
),
moves AS (
    -- Each movement's level after it: the level after the batch, plus what the later
    -- movements of the batch on the same level took off.
    SELECT c.*, l.id AS level_id, l.on_hand, l.committed, l.incoming, l.damaged,
        l.quarantined, l.safety_stock,
        l.reserved + l.total - sum(c.amount) OVER w AS reserved,
        l.version - l.moves + row_number() OVER w AS version,
        nextval('inventory_movements_id_seq') AS movement_id
    FROM claimed c
    JOIN levels l ON l.product_id = c.product_id AND l.warehouse_id = c.warehouse_id
    WINDOW w AS (PARTITION BY c.product_id, c.warehouse_id ORDER BY c.id)
),
change AS (SELECT nextval('inventory_change_seq') AS id),
ledger AS (
    INSERT INTO inventory_movements (id, change_id, level_id, product_id, warehouse_id, type,
        reason, source, actor, reference_id, channel_id, reservation_id, d_reserved,
        on_hand, reserved, committed, incoming, damaged, quarantined, safety_stock)
    SELECT m.movement_id, (SELECT id FROM change), m.level_id, m.product_id, m.warehouse_id,
        'EXPIRED', 'expired', 'SYSTEM', 'bench', m.reference_id, m.channel_id, m.id,
        -m.amount, m.on_hand, m.reserved, m.committed, m.incoming, m.damaged, m.quarantined,
        m.safety_stock
    FROM moves m
)
-- The events, left out of the bound that bench/reserve.py --bounds measures (from here:)
, events AS (
    INSERT INTO outbox (topic, product_id, warehouse_id, channel_id, payload)
    SELECT 'RESERVATION_CHANGED', r.product_id, r.warehouse_id, r.channel_id,
        json_build_object('kind', 'EXPIRED', 'reservationId', r.id, 'type', r.type,
            'status', r.status, 'productId', r.product_id, 'warehouseId', r.warehouse_id,
            'channelId', r.channel_id, 'quantity', r.quantity,
            'fulfilledQuantity', r.fulfilled_quantity, 'referenceId', r.reference_id,
            'cartReferenceId', r.cart_reference_id, 'expiresAt', r.expires_at,
            'actor', 'bench', 'version', r.version, 'occurredAt', now())
    FROM changed r
    UNION ALL
    SELECT 'INVENTORY_UPDATED', m.product_id, m.warehouse_id, m.channel_id,
        json_build_object('movementId', m.movement_id, 'changeId', (SELECT id FROM change),
            'levelId', m.level_id, 'productId', m.product_id, 'warehouseId', m.warehouse_id,
            'type', 'EXPIRED', 'reason', 'expired', 'source', 'SYSTEM', 'actor', 'bench',
            'referenceId', m.reference_id, 'correlationId', NULL, 'channelId', m.channel_id,
            'reservationId', m.id, 'occurredAt', now(), 'version', m.version,
            'before', json_build_object('on_hand', m.on_hand, 'reserved',
                m.reserved + m.amount, 'committed', m.committed, 'incoming', m.incoming,
                'damaged', m.damaged, 'quarantined', m.quarantined,
                'safety_stock', m.safety_stock,
                'available', m.on_hand - m.reserved - m.amount - m.committed - m.damaged
                    - m.quarantined - m.safety_stock),
            'after', json_build_object('on_hand', m.on_hand, 'reserved', m.reserved,
                'committed', m.committed, 'incoming', m.incoming, 'damaged', m.damaged,
                'quarantined', m.quarantined, 'safety_stock', m.safety_stock,
                'available', m.on_hand - m.reserved - m.committed - m.damaged
                    - m.quarantined - m.safety_stock))
    FROM moves m
)
-- (to here.)
SELECT count(*) FROM changed
$$;
