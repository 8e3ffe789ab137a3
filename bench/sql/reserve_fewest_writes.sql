-- The physical limit of createReservation: the fewest durable writes one CART reservation
-- needs, in onhand's own tables (same indexes, constraints and triggers), as ONE call.
--
--   the channel x product row's hold, checked against its allocation;
--   the level's reserved bucket, checked against what is available;
--   the reservation row;
--   its ledger row (before/after of every bucket);
--   two outbox events (RESERVATION_CHANGED and INVENTORY_UPDATED).
--
-- bench/reserve.py installs it in the benchmark database and drives it with pgbench.
CREATE OR REPLACE FUNCTION bench_reserve(
    p_product bigint, p_warehouse bigint, p_channel bigint, p_quantity int
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    level inventory_levels;
    made reservations;
    movement bigint;
BEGIN
    UPDATE channel_inventory SET held = held + p_quantity, updated_at = now()
    WHERE channel_id = p_channel AND product_id = p_product
      AND (allocated IS NULL OR allocated - held >= p_quantity);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the channel may not sell % more', p_quantity;
    END IF;
    UPDATE inventory_levels
    SET reserved = reserved + p_quantity, version = version + 1, updated_at = now()
    WHERE product_id = p_product AND warehouse_id = p_warehouse
      AND on_hand - reserved - committed - damaged - quarantined - safety_stock >= p_quantity
    RETURNING * INTO level;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'insufficient stock';
    END IF;
    INSERT INTO reservations (type, product_id, warehouse_id, channel_id, quantity,
        reference_id, expires_at, actor)
    VALUES ('CART', p_product, p_warehouse, p_channel, p_quantity, 'cart',
        now() + interval '30 minutes', 'bench')
    RETURNING * INTO made;
    INSERT INTO inventory_movements (change_id, level_id, product_id, warehouse_id, type,
        source, actor, reference_id, channel_id, reservation_id, d_reserved,
        on_hand, reserved, committed, incoming, damaged, quarantined, safety_stock)
    VALUES (nextval('inventory_change_seq'), level.id, p_product, p_warehouse, 'RESERVED',
        'API', 'bench', 'cart', p_channel, made.id, p_quantity,
        level.on_hand, level.reserved, level.committed, level.incoming, level.damaged,
        level.quarantined, level.safety_stock)
    RETURNING id INTO movement;
    INSERT INTO outbox (topic, product_id, warehouse_id, channel_id, payload) VALUES
    ('RESERVATION_CHANGED', p_product, p_warehouse, p_channel, json_build_object(
        'kind', 'CREATED', 'reservationId', made.id, 'type', made.type,
        'status', made.status, 'productId', p_product, 'warehouseId', p_warehouse,
        'channelId', p_channel, 'quantity', p_quantity, 'fulfilledQuantity', 0,
        'referenceId', made.reference_id, 'cartReferenceId', NULL,
        'expiresAt', made.expires_at, 'actor', 'bench', 'version', made.version,
        'occurredAt', now())),
    ('INVENTORY_UPDATED', p_product, p_warehouse, p_channel, json_build_object(
        'movementId', movement, 'levelId', level.id, 'productId', p_product,
        'warehouseId', p_warehouse, 'type', 'RESERVED', 'source', 'API', 'actor', 'bench',
        'referenceId', 'cart', 'channelId', p_channel, 'reservationId', made.id,
        'occurredAt', now(), 'version', level.version,
        'before', json_build_object('on_hand', level.on_hand,
            'reserved', level.reserved - p_quantity, 'committed', level.committed),
        'after', json_build_object('on_hand', level.on_hand, 'reserved', level.reserved,
            'committed', level.committed)));
    RETURN made.id;
END $$;
