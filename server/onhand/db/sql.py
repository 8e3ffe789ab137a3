"""Small SQL helpers shared by the domain modules."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains_any(term: str, *columns: ColumnElement[str]) -> ColumnElement[bool]:
    """Case-insensitive substring match of `term` on any of the columns."""
    pattern = f"%{escape_like(term)}%"
    return or_(*(column.ilike(pattern) for column in columns))
