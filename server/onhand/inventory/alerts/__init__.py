"""Stock alerts: rules per warehouse or product, raised when a condition starts and resolved
when it clears, acknowledged by operators.

Open `model.py` first, then `rules.py` and `evaluation.py` (the evaluator the alerter runs)."""
