-- The physical limit of adjustInventory: the fewest durable writes one adjustment needs, in
-- onhand's own tables (same indexes, constraints and triggers), as ONE call.
--
--   the level's on_hand, checked as the ledger's AVAILABLE rule does (a decrease may not
--   take available below zero), with a new version;
--   its ledger row (the delta, and the value after, of every bucket);
--   one outbox event (INVENTORY_UPDATED, with the ledger's payload: before and after of
--   every bucket).
--
-- The movement is what bench/adjust.py's mutation asks for: reason RECEIPT (which is also
-- its type), made with an ADMIN token named "bench" (source MANUAL, actor bench).
-- bench/adjust.py installs it in the benchmark database and drives it with pgbench.
CREATE OR REPLACE FUNCTION bench_adjust(
    p_product bigint, p_warehouse bigint, p_delta int
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    level inventory_levels;
    change bigint := nextval('inventory_change_seq');
    movement bigint;
    occurred timestamptz;
BEGIN
    UPDATE inventory_levels
    SET on_hand = on_hand + p_delta, version = version + 1, updated_at = now()
    WHERE product_id = p_product AND warehouse_id = p_warehouse
      AND (p_delta >= 0 OR available + p_delta >= 0)
    RETURNING * INTO level;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such level, or insufficient stock';
    END IF;
    INSERT INTO inventory_movements (change_id, level_id, product_id, warehouse_id, type,
        reason, source, actor, d_on_hand,
        on_hand, reserved, committed, incoming, damaged, quarantined, safety_stock)
    VALUES (change, level.id, p_product, p_warehouse, 'RECEIPT',
        'RECEIPT', 'MANUAL', 'bench', p_delta,
        level.on_hand, level.reserved, level.committed, level.incoming, level.damaged,
        level.quarantined, level.safety_stock)
    RETURNING id, occurred_at INTO movement, occurred;
    INSERT INTO outbox (topic, product_id, warehouse_id, channel_id, payload) VALUES
    ('INVENTORY_UPDATED', p_product, p_warehouse, NULL, json_build_object(
        'movementId', movement, 'changeId', change, 'levelId', level.id,
        'productId', p_product, 'warehouseId', p_warehouse, 'type', 'RECEIPT',
        'reason', 'RECEIPT', 'source', 'MANUAL', 'actor', 'bench', 'referenceId', NULL,
        'correlationId', NULL, 'channelId', NULL, 'reservationId', NULL,
        'occurredAt', occurred, 'version', level.version,
        'before', json_build_object('on_hand', level.on_hand - p_delta,
            'reserved', level.reserved, 'committed', level.committed,
            'incoming', level.incoming, 'damaged', level.damaged,
            'quarantined', level.quarantined, 'safety_stock', level.safety_stock,
            'available', level.available - p_delta),
        'after', json_build_object('on_hand', level.on_hand,
            'reserved', level.reserved, 'committed', level.committed,
            'incoming', level.incoming, 'damaged', level.damaged,
            'quarantined', level.quarantined, 'safety_stock', level.safety_stock,
            'available', level.available)));
    RETURN movement;
END $$;
