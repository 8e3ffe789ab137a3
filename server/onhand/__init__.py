"""onhand: the one place that knows how much of every product is where."""

__version__ = "0.1.0"
