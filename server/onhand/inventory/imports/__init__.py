"""Bulk CSV import and export of stock.

An import reads a CSV file (parsing.py), stages its rows in a temporary table and checks every
row at once in SQL (staging.py, checks.py), then applies the good rows through the ledger in one
transaction (applying.py): all or nothing unless partial imports are allowed. Each import is a
job (jobs.py) whose progress and problems are visible while it runs; runner.py ties the steps
together. export.py writes stock back out in the same columns.
"""
