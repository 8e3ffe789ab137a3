"""Webhooks: endpoints that receive events, signed, at least once, with retries, a circuit
breaker and a dead letter. Open `endpoints.py` first, then `deliveries.py`."""
