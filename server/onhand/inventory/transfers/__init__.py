"""Transfer orders: stock moved between warehouses in steps (held, shipped, received), with
the discrepancies a receipt finds. Immediate one-step transfers are `inventory/stock.py`.

Open `orders.py` first, then `creating.py`, `shipping.py` and `receiving.py` in the order a
transfer goes through them."""
