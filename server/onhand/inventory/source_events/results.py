"""What recordInventoryEvents answers for each event, and how problems are reported and
stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from onhand.core.errors import ErrorCode, Problem
from onhand.inventory.source_events.inputs import Checked


class Outcome(StrEnum):
    APPLIED = "APPLIED"
    DUPLICATE = "DUPLICATE"
    HELD = "HELD"
    REJECTED = "REJECTED"
    FAILED = "FAILED"


@dataclass
class EventResult:
    index: int
    source_system: str | None
    event_id: str | None
    sequence: int | None
    outcome: Outcome
    expected_sequence: int | None = None
    problems: list[Problem] = field(default_factory=list)
    source_event_id: int | None = None  # the stored event (none when rejected)


@dataclass
class GroupOutcome:
    results: list[EventResult]
    # Events held by earlier calls that this call's events let through (applied or failed).
    released: list[int]


def stored(problem: Problem) -> dict[str, Any]:
    return {"code": str(problem.code), "message": problem.message, "field": problem.field}


def result_of(
    c: Checked, outcome: Outcome, stored: int | None, problems: list[Problem]
) -> EventResult:
    return EventResult(
        index=c.index,
        source_system=c.source_system,
        event_id=c.event_id,
        sequence=c.event.sequence,
        outcome=outcome,
        problems=list(problems),
        source_event_id=stored,
    )


def out_of_order(message: str, expected: int) -> Problem:
    return Problem(ErrorCode.OUT_OF_ORDER, message, "sequence", {"expected_sequence": expected})


def held_problem(sequence: int, expected: int) -> Problem:
    return out_of_order(
        f"held: sequence {sequence} is ahead of the expected {expected}; it is applied once"
        " the events before it arrive",
        expected,
    )


def at_index(index: int, problem: Problem) -> Problem:
    """A problem of event `index`, its field as a path in the input (events.2.sku)."""
    where = f"events.{index}.{problem.field}" if problem.field else f"events.{index}"
    return Problem(problem.code, problem.message, where, problem.details)


def stored_problems(errors: list[dict[str, Any]] | None) -> list[Problem]:
    """The problems of a FAILED event as stored."""
    return [Problem(ErrorCode(e["code"]), e["message"], e.get("field")) for e in errors or []]
