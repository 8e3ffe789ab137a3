"""Problems found in an import file, each named by its line and column."""

from __future__ import annotations

from dataclasses import dataclass

from onhand.core.errors import ErrorCode


@dataclass(frozen=True, slots=True)
class RowProblem:
    # The file's line (1 is the header); None for a problem of the whole file.
    line: int | None
    column: str | None
    code: ErrorCode
    message: str
    value: str | None = None


class FileRefusedError(Exception):
    """The file as a whole cannot be imported (not UTF-8, a missing column, no rows, ...)."""

    def __init__(self, *problems: RowProblem) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in problems))
