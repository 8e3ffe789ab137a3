"""What an import is asked to do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# Files above this size are refused before parsing: one import holds its rows in memory.
MAX_FILE_BYTES = 256 * 1024 * 1024
# Rows per ledger statement: large enough to cost little more than one statement, small
# enough to report progress every second or so.
SLICE_ROWS = 20_000
# Problems kept per job: enough to fix any real file, bounded against a file of garbage.
MAX_STORED_PROBLEMS = 50_000


class ImportMode(StrEnum):
    # Quantity is the absolute count on hand (a stock take): the PHYSICAL rule, so it may dip
    # into safety stock but never below what reservations and orders hold.
    SET = "SET"
    # Quantity is a change (+ received, - removed): the AVAILABLE rule, like adjustInventory.
    ADJUST = "ADJUST"


@dataclass(frozen=True, slots=True)
class ImportOptions:
    mode: ImportMode = ImportMode.SET
    # Check and judge everything, report what would happen, apply nothing.
    dry_run: bool = False
    # Apply the good rows and list the bad ones, instead of refusing the whole file.
    allow_partial: bool = False
    # Create products for SKUs the catalog does not know (named by ProductName, else the SKU).
    create_missing_products: bool = False
    idempotency_key: str | None = None
    reason: str | None = None
    file_name: str | None = None
