"""`onhand simulate`: a seeded distributor's day, run twice over the same order stream.

Once against a model of the legacy 4-hourly CSV sync (`legacy.py`), once against onhand's
real API (`live/`), and the two compared in the seed's terms (`report.py`). Open `world.py`
(who sells what, from where) and `stream.py` (what happens, when) first: they are also how a
prospective user sizes onhand for their own business. `clock.py` says how time runs.
"""
