"""Reading source-system events: what each source pushed, and where each source stands."""

from __future__ import annotations

import strawberry

from onhand.api.context import Info
from onhand.api.pagination import Connection, paginate
from onhand.api.permissions import requires
from onhand.api.source_events.types import (
    SourceEvent,
    SourceEventConnection,
    SourceEventStatusEnum,
    SourceSystem,
    SourceSystemConnection,
)
from onhand.auth.roles import Permission
from onhand.inventory.source_events.records import (
    SourceEventFilter,
    source_event_listing,
    source_system_listing,
)

AUDIT = [requires(Permission.READ_AUDIT)]


@strawberry.type
class SourceEventQuery:
    @strawberry.field(
        permission_classes=AUDIT,
        description="Events pushed by ERPs and warehouse systems, newest first.",
    )
    async def source_events(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        source_system: str | None = None,
        status: list[SourceEventStatusEnum] | None = None,  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
        event_id: str | None = None,
    ) -> Connection[SourceEvent]:
        listing = source_event_listing(
            SourceEventFilter(
                source_system=source_system, statuses=tuple(status or ()), event_id=event_id
            )
        )
        return await paginate(
            info, listing, SourceEvent.from_row, first, after, SourceEventConnection
        )

    @strawberry.field(
        permission_classes=AUDIT,
        description="The systems that pushed events: last applied sequence, held and failed.",
    )
    async def source_systems(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        code: str | None = None,
    ) -> Connection[SourceSystem]:
        return await paginate(
            info,
            source_system_listing(code),
            SourceSystem.from_row,
            first,
            after,
            SourceSystemConnection,
        )
