"""The command line arguments of `onhand import` and `onhand export` (kept apart from the
commands themselves, so that building the parser stays quick)."""

from __future__ import annotations

import argparse

from onhand.inventory.imports.options import SLICE_ROWS, ImportMode


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the CSV file ('-' reads standard input)")
    parser.add_argument(
        "--mode",
        choices=[m.value for m in ImportMode],
        default="SET",
        help="SET: Quantity is the count on hand (default); ADJUST: a change",
    )
    parser.add_argument("--dry-run", action="store_true", help="check and report, apply nothing")
    parser.add_argument(
        "--allow-partial", action="store_true", help="apply the good rows, list the bad ones"
    )
    parser.add_argument(
        "--create-missing-products", action="store_true", help="create unknown SKUs"
    )
    parser.add_argument("--idempotency-key", help="the same file with the same key applies once")
    parser.add_argument("--reason", help="recorded on every movement (default: the file name)")
    parser.add_argument("--actor", help="who the ledger names (default: cli:<user>)")
    parser.add_argument(
        "--slice-rows", type=int, help=f"rows per ledger statement (default {SLICE_ROWS:,})"
    )


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", default="-", help="where to write ('-': stdout)")
    parser.add_argument(
        "--warehouse", action="append", default=[], help="a warehouse code (repeatable)"
    )
    parser.add_argument("--sku", action="append", default=[], help="a SKU (repeatable)")
    parser.add_argument("--search", help="part of the SKU or product name")
    parser.add_argument(
        "--exclude-zero", action="store_true", help="leave out levels with no stock at all"
    )
    parser.add_argument(
        "--below-safety-stock", action="store_true", help="only levels with nothing available"
    )
