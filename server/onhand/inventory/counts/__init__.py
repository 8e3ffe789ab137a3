"""Counting stock: cycle counts compared with the system's on-hand (reviewed when beyond a
threshold) and reconciliation of every quantity against the ledger and live reservations.

Open `cycle_counts.py` first, then `reviews.py` and `reconciliation.py`."""
