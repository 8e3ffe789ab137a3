"""The basics every layer builds on and which import nothing of onhand's own: typed errors
(`errors.py`, open first), row records, references by id or natural key, pagination and
input validation."""
