"""Order routing: which warehouses should ship an order (scored, as few splits as possible).

Open `planning.py` first; `fulfillment.py` answers fulfillmentPlan with it on live stock."""
