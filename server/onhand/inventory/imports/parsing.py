"""Reading an import file: its encoding, delimiter and header, then its rows with their line
numbers, a batch at a time, straight from the file (source.py): only the batch being staged is
in memory. Only the file's shape is checked here; what the values mean is checked in SQL, for
all rows at once (checks.py)."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from onhand.core.errors import ErrorCode
from onhand.inventory.imports.columns import PRODUCT_KEYS, REQUIRED, CsvColumn, match
from onhand.inventory.imports.options import MAX_FILE_BYTES
from onhand.inventory.imports.problems import FileRefusedError, RowProblem
from onhand.inventory.imports.source import CHUNK_BYTES, ImportFile

DELIMITERS = (",", ";", "\t")
# A batch of rows ends after about this much text, however few rows that is.
BATCH_CHARACTERS = 2 * 1024 * 1024
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass
class ParsedFile:
    # The file's columns in order; None for a column with a blank header (ignored).
    columns: list[CsvColumn | None]
    # Readable rows read so far.
    records: int = 0
    # Data rows, unreadable ones included (blank lines are not rows), once all are read.
    rows_total: int = 0
    # Rows that could not be read (a wrong number of fields).
    problems: list[RowProblem] = field(default_factory=list)
    delimiter: str = ","

    def has(self, column: CsvColumn) -> bool:
        return column in self.columns


class CsvReader:
    """The rows of an import file. `open` reads the header (refusing a file that cannot be
    imported); each `batch` reads the next rows, each as its cells in file order then its
    line number. A problem with the whole file (not UTF-8, a NUL, a broken quote) may be
    found only when its line is reached: FileRefusedError then, and nothing is applied."""

    def __init__(
        self, source: ImportFile, parsed: ParsedFile, reader: Any, width: int, lines: _Lines
    ) -> None:
        self.source = source
        self._lines = lines
        self.parsed = parsed
        self._reader = reader
        self._width = width
        # A row's line is the one after where the previous row ended (a quoted value may
        # span several lines).
        self._ended = reader.line_num
        self.done = False

    @classmethod
    def open(cls, source: ImportFile) -> CsvReader:
        if source.size > MAX_FILE_BYTES:
            raise FileRefusedError(
                RowProblem(
                    None,
                    None,
                    ErrorCode.INVALID,
                    f"the file is {source.size:,} bytes; at most {MAX_FILE_BYTES:,} can be"
                    " imported at once: split it",
                )
            )
        file = source.rewound()
        if file.read(2).startswith(_UTF16_BOMS):
            raise FileRefusedError(
                RowProblem(None, None, ErrorCode.INVALID, "the file is UTF-16: save it as UTF-8")
            )
        file.seek(0)
        # utf-8-sig: a byte order mark (as Excel writes) is dropped, its absence is fine.
        text = io.TextIOWrapper(
            io.BufferedReader(_Unclosed(file), CHUNK_BYTES), encoding="utf-8-sig", newline=""
        )
        lines = _Lines(source, text)
        first = next(lines, "")
        delimiter = _delimiter(first)
        reader = csv.reader(chain([first], lines), delimiter=delimiter, strict=True)
        lines.characters = 0
        try:
            header = next(reader, None)
        except csv.Error as error:
            raise _unreadable(1, error) from error
        if header is None or not any(cell.strip() for cell in header):
            problem = RowProblem(1, None, ErrorCode.REQUIRED, "the file has no header line")
            raise FileRefusedError(problem)
        parsed = ParsedFile(columns=_columns(header), delimiter=delimiter)
        return cls(source, parsed, reader, len(header), lines)

    def batch(self, size: int, characters: int = BATCH_CHARACTERS) -> list[list[Any]]:
        """Up to `size` more readable rows, fewer when they are long (about `characters` of
        text in all); [] once the file is read."""
        records: list[list[Any]] = []
        lines = self._lines
        lines.characters = 0
        parsed, reader, width = self.parsed, self._reader, self._width
        ended = False
        try:
            for row in reader:
                line = self._ended + 1
                self._ended = reader.line_num
                # The first cell's test spares joining the cells of almost every row.
                if not (row and (row[0] or "".join(row).strip())):
                    continue  # a blank line, or one of separators only
                if len(row) == width:
                    row.append(line)
                    records.append(row)
                    if len(records) == size or lines.characters >= characters:
                        break
                else:
                    parsed.problems.append(
                        RowProblem(
                            line,
                            None,
                            ErrorCode.INVALID,
                            f"line {line} has {len(row)} fields; the header has {width}",
                        )
                    )
            else:
                ended = True
        except csv.Error as error:
            # Named by the line where the unreadable row starts (an unclosed quote runs on).
            raise _unreadable(self._ended + 1, error) from error
        parsed.records += len(records)
        if ended:
            self._finish()
        return records

    def _finish(self) -> None:
        self.done = True
        parsed = self.parsed
        parsed.rows_total = parsed.records + len(parsed.problems)
        if parsed.rows_total == 0:
            raise FileRefusedError(
                RowProblem(None, None, ErrorCode.REQUIRED, "the file has a header but no rows")
            )


class _Unclosed(io.RawIOBase):
    """The file seen through the text reader, which would otherwise close it when it goes:
    its owner closes it (the import's task, once it ends)."""

    def __init__(self, file: Any) -> None:
        self._file = file

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._file.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Lines:
    """The file's lines, refused at the first that is not UTF-8 or holds a NUL character,
    counting the characters read (a batch's size)."""

    def __init__(self, source: ImportFile, text: Iterable[str]) -> None:
        self._source = source
        self._text = iter(text)
        self.number = 0
        self.characters = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        try:
            line = next(self._text)
        except UnicodeDecodeError as error:
            where, byte = _first_invalid_utf8(self._source)
            raise FileRefusedError(
                RowProblem(
                    where,
                    None,
                    ErrorCode.INVALID,
                    f"line {where} is not valid UTF-8 (byte 0x{byte:02x}): save the file as UTF-8",
                )
            ) from error
        self.number += 1
        self.characters += len(line)
        if "\x00" in line:
            number = self.number
            raise FileRefusedError(
                RowProblem(
                    number,
                    None,
                    ErrorCode.INVALID,
                    f"line {number} holds a NUL character (U+0000), which no value may contain",
                )
            )
        return line


def _first_invalid_utf8(source: ImportFile) -> tuple[int, int]:
    """Where the text reader met bytes that are not UTF-8: the line and the byte. The text
    reader decodes a chunk at a time and cannot say; the file is read again to find out."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    file = source.rewound()
    lines = 1
    while True:
        chunk = file.read(CHUNK_BYTES)
        try:
            decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as error:
            # error.object is the chunk after the few bytes of a character the decoder held
            # back from the chunk before: never a newline, which is one byte.
            return lines + error.object.count(b"\n", 0, error.start), error.object[error.start]
        if not chunk:
            return lines, 0
        lines += chunk.count(b"\n")


def _delimiter(first_line: str) -> str:
    """The separator the header line uses most: comma, semicolon (spreadsheets in locales
    with a decimal comma) or tab."""
    counts = {d: first_line.count(d) for d in DELIMITERS}
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


def _unreadable(line: int, error: csv.Error) -> FileRefusedError:
    return FileRefusedError(
        RowProblem(
            line,
            None,
            ErrorCode.INVALID,
            f"line {line} cannot be read as CSV ({error}): check its quotes",
        )
    )
