"""Reading an import file: its encoding, delimiter and header, and its rows with their line
numbers. Only the file's shape is checked here; what the values mean is checked in SQL, for all
rows at once (checks.py)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from onhand.core.errors import ErrorCode
from onhand.inventory.imports.columns import PRODUCT_KEYS, REQUIRED, CsvColumn, match
from onhand.inventory.imports.options import MAX_FILE_BYTES
from onhand.inventory.imports.problems import FileRefusedError, RowProblem

DELIMITERS = (",", ";", "\t")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass
class ParsedFile:
    # The file's columns in order; None for a column with a blank header (ignored).
    columns: list[CsvColumn | None]
    # Each readable row: its cells in file order, then its line number.
    records: list[list[Any]] = field(default_factory=list)
    # Data rows, unreadable ones included (blank lines are not rows).
    rows_total: int = 0
    # Rows that could not be read (a wrong number of fields).
    problems: list[RowProblem] = field(default_factory=list)
    delimiter: str = ","

    def has(self, column: CsvColumn) -> bool:
        return column in self.columns


def parse(data: bytes) -> ParsedFile:
    text = _decode(data)
    delimiter = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise _unreadable(1, error) from error
    if header is None or not any(cell.strip() for cell in header):
        problem = RowProblem(1, None, ErrorCode.REQUIRED, "the file has no header line")
        raise FileRefusedError(problem)
    parsed = ParsedFile(columns=_columns(header), delimiter=delimiter)
    _read_rows(reader, parsed, width=len(header))
    if parsed.rows_total == 0:
        raise FileRefusedError(
            RowProblem(None, None, ErrorCode.REQUIRED, "the file has a header but no rows")
        )
    return parsed


def _decode(data: bytes) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise FileRefusedError(
            RowProblem(
                None,
                None,
                ErrorCode.INVALID,
                f"the file is {len(data):,} bytes; at most {MAX_FILE_BYTES:,} can be imported"
                " at once: split it",
            )
        )
    if data.startswith(_UTF16_BOMS):
        raise FileRefusedError(
            RowProblem(None, None, ErrorCode.INVALID, "the file is UTF-16: save it as UTF-8")
        )
    try:
        # utf-8-sig: a byte order mark (as Excel writes) is dropped, its absence is fine.
        decoded = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise FileRefusedError(
            RowProblem(
                line,
                None,
                ErrorCode.INVALID,
                f"line {line} is not valid UTF-8 (byte 0x{data[error.start]:02x}):"
                " save the file as UTF-8",
            )
        ) from error
    nul = decoded.find("\x00")
    if nul >= 0:
        line = decoded.count("\n", 0, nul) + 1
        raise FileRefusedError(
            RowProblem(
                line,
                None,
                ErrorCode.INVALID,
                f"line {line} holds a NUL character (U+0000), which no value may contain",
            )
        )
    return decoded


def _delimiter(text: str) -> str:
    """The separator the header line uses most: comma, semicolon (spreadsheets in locales
    with a decimal comma) or tab."""
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _columns(header: list[str]) -> list[CsvColumn | None]:
    problems: list[RowProblem] = []
    columns: list[CsvColumn | None] = []
    for name in header:
        if not name.strip():
            columns.append(None)  # a trailing separator: nothing to read there
            continue
        column = match(name)
        if column is None:
            problems.append(
                RowProblem(
                    1,
                    name,
                    ErrorCode.INVALID,
                    f"unknown column {name!r}; the columns are "
                    + ", ".join(c.value for c in CsvColumn),
                    name,
                )
            )
        elif column in columns:
            problems.append(
                RowProblem(1, column, ErrorCode.INVALID, f"column {column} appears twice", name)
            )
        columns.append(column)
    for required in REQUIRED:
        if required not in columns:
            problems.append(
                RowProblem(1, required, ErrorCode.REQUIRED, f"the column {required} is missing")
            )
    if not any(key in columns for key in PRODUCT_KEYS):
        problems.append(
            RowProblem(
                1,
                CsvColumn.SKU,
                ErrorCode.REQUIRED,
                "the columns SKU and ProductID are both missing: name products by either",
            )
        )
    if problems:
        raise FileRefusedError(*problems)
    return columns


def _read_rows(reader: Any, parsed: ParsedFile, width: int) -> None:
    records = parsed.records
    # A row's line is the one after where the previous row ended (a quoted value may span
    # several lines).
    ended = reader.line_num
    try:
        for row in reader:
            line = ended + 1
            ended = reader.line_num
            # The first cell's test spares joining the cells of almost every row.
            if not (row and (row[0] or "".join(row).strip())):
                continue  # a blank line, or one of separators only
            if len(row) == width:
                row.append(line)
                records.append(row)
            else:
                parsed.problems.append(
                    RowProblem(
                        line,
                        None,
                        ErrorCode.INVALID,
                        f"line {line} has {len(row)} fields; the header has {width}",
                    )
                )
    except csv.Error as error:
        # Named by the line where the unreadable row starts (an unclosed quote runs on).
        raise _unreadable(ended + 1, error) from error
    parsed.rows_total = len(records) + len(parsed.problems)


def _unreadable(line: int, error: csv.Error) -> FileRefusedError:
    return FileRefusedError(
        RowProblem(
            line,
            None,
            ErrorCode.INVALID,
            f"line {line} cannot be read as CSV ({error}): check its quotes",
        )
    )
