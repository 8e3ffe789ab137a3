"""Query cost: what an operation may cost, computed once per document (plan.py), what it did
cost, and the per-token rate limit charging it (extension.py; the buckets are
onhand/auth/cost_buckets.py)."""
