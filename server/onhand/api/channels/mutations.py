"""Channel mutations: channels themselves (admins)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncConnection

from onhand.api import ids
from onhand.api.channels.access import named_channel
from onhand.api.channels.types import Channel, ChannelKindEnum
from onhand.api.context import Context, Info
from onhand.api.errors import UserError
from onhand.api.inputs import provided
from onhand.api.permissions import mutate
from onhand.auth.roles import Permission
from onhand.core.refs import Ref
from onhand.inventory.channels import registry as channels

WAREHOUSES = "The warehouses that fulfil the channel (their stock is what it sells)."


@strawberry.input
class CreateChannelInput:
    code: str = strawberry.field(description="Unique: WEBSITE, POS, MOBILE_APP, AMAZON, ...")
    name: str
    kind: ChannelKindEnum = channels.ChannelKind.REALTIME  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    priority: int = 0
    safety_buffer_percent: float | None = strawberry.field(
        default=None, description="Default from configuration (5)."
    )
    oversell_protection: bool = True
    sync_interval_minutes: float | None = strawberry.field(
        default=None, description="For BATCH channels; default from configuration (15)."
    )
    is_active: bool = True
    warehouse_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description=WAREHOUSES
    )
    warehouse_codes: list[str] | None = None


@strawberry.input
class UpdateChannelInput:
    id: strawberry.ID | None = strawberry.field(
        default=None, description="The channel to change, or name it by channelCode."
    )
    channel_code: str | None = strawberry.field(
        default=None, description="The channel to change by its code (code: its new code)."
    )
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse the edit (VERSION_CONFLICT) unless at this version."
    )
    code: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    kind: ChannelKindEnum | None = strawberry.UNSET  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    priority: int | None = strawberry.UNSET
    safety_buffer_percent: float | None = strawberry.UNSET
    oversell_protection: bool | None = strawberry.UNSET
    sync_interval_minutes: float | None = strawberry.UNSET
    is_active: bool | None = strawberry.UNSET
    warehouse_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description=f"{WAREHOUSES} Replaces the current set."
    )
    warehouse_codes: list[str] | None = strawberry.UNSET


@strawberry.type
class CreateChannelPayload:
    channel: Channel | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpdateChannelPayload:
    channel: Channel | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def warehouse_refs(
    warehouse_ids: Sequence[str] | None, codes: Sequence[str] | None
) -> list[Ref] | None:
    """None when neither list was given (nothing to change)."""
    if warehouse_ids is None and codes is None:
        return None
    refs = [
        Ref(id=ids.decode(w, "Warehouse", f"warehouseIds.{i}"), field=f"warehouseIds.{i}")
        for i, w in enumerate(warehouse_ids or [])
    ]
    refs += [Ref(key=c, field=f"warehouseCodes.{i}") for i, c in enumerate(codes or [])]
    return refs


T = TypeVar("T")


def _given(value: Sequence[T] | None) -> Sequence[T] | None:
    """A list input as given: None when the client left it out (UNSET) or sent null."""
    return None if value is strawberry.UNSET else value


@strawberry.type
class ChannelMutation:
    @strawberry.mutation
    async def create_channel(self, info: Info, input: CreateChannelInput) -> CreateChannelPayload:
        async def work(context: Context) -> CreateChannelPayload:
            settings = context.settings
            values = provided(
                input,
                exclude={
                    "warehouse_ids",
                    "warehouse_codes",
                    "safety_buffer_percent",
                    "sync_interval_minutes",
                },
            )
            defaults = {
                "safety_buffer_percent": settings.safety_buffer_percent,
                "sync_interval_minutes": settings.batch_sync_interval_minutes,
            }
            if input.safety_buffer_percent is not None:
                values["safety_buffer_percent"] = input.safety_buffer_percent
            if input.sync_interval_minutes is not None:
                values["sync_interval_minutes"] = input.sync_interval_minutes
            refs = warehouse_refs(input.warehouse_ids, input.warehouse_codes) or []
            record = await context.transaction(
                lambda conn: channels.create_channel(conn, values, refs, defaults=defaults)
            )
            return CreateChannelPayload(channel=Channel.from_record(record))

        return await mutate(info, Permission.MANAGE_CHANNELS, CreateChannelPayload, work)

    @strawberry.mutation
    async def update_channel(self, info: Info, input: UpdateChannelInput) -> UpdateChannelPayload:
        async def work(context: Context) -> UpdateChannelPayload:
            named = named_channel(context, input.id, input.channel_code)
            changes = provided(
                input,
                exclude={
                    "id",
                    "channel_code",
                    "expected_version",
                    "warehouse_ids",
                    "warehouse_codes",
                },
            )
            refs = warehouse_refs(
                _given(input.warehouse_ids),
                _given(input.warehouse_codes),
            )

            async def update(conn: AsyncConnection) -> channels.Channel:
                channel = await channels.resolve_channel(conn, named)
                return await channels.update_channel(
                    conn, channel.id, changes, refs, input.expected_version
                )

            record = await context.transaction(update)
            return UpdateChannelPayload(channel=Channel.from_record(record))

        return await mutate(info, Permission.MANAGE_CHANNELS, UpdateChannelPayload, work)
