"""Preorders: units promised before stock exists, up to a cap per product or per level.

A preorder holds no stock and counts only against its cap (caps.py). When stock is received,
the ledger converts the waiting preorders into ORDER reservations, oldest first, in the
receipt's own transaction (receiving.py). Open `model.py` first, then `placing.py`.
"""
