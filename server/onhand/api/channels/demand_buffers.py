"""Demand-driven safety buffers in GraphQL: setChannelDemandBuffer, recomputeDemandBuffers,
channelDemandBuffers, and the DEMAND_BUFFERS_RECOMPUTED event's type."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

import strawberry

from onhand.api import ids
from onhand.api.channels.access import required_channel_ref
from onhand.api.channels.types import Channel, load_channel, load_named_channel, product_ids_of
from onhand.api.context import Context, Info
from onhand.api.errors import UserError
from onhand.api.events.scalars import Long
from onhand.api.events.types import StreamEvent, register
from onhand.api.pagination import Connection, paginate
from onhand.api.permissions import mutate, requires
from onhand.api.products.types import Product
from onhand.auth.roles import Permission
from onhand.core.errors import DomainError, ErrorCode
from onhand.events.envelope import Published
from onhand.events.outbox import Topic
from onhand.inventory.channels import demand_buffers as buffers

MAX_PRODUCTS = 250
FORMULA = (
    "buffer = ceil(z * dailyDeviation * sqrt(leadTimeDays)), at least minimumBuffer and at "
    "most maximumBuffer, where dailyDeviation is the sample standard deviation of the units "
    "sold on the channel each of the last lookbackDays days (0 for a day without sales) and z "
    "the standard normal quantile of serviceLevel."
)


@strawberry.type(description="How a channel's buffers are computed from its sales. " + FORMULA)
class ChannelDemandBufferPolicy:
    enabled: bool = strawberry.field(description="Whether the buffers are demand-driven.")
    service_level: float = strawberry.field(
        description="The chance the buffer covers the swings of demand (0.95: z = 1.645)."
    )
    lookback_days: int = strawberry.field(description="The days of sales considered.")
    lead_time_days: float = strawberry.field(
        description="How long the channel may sell before what it shows is corrected."
    )
    minimum_buffer: int = strawberry.field(description="The least a product keeps back.")
    maximum_buffer: int | None = strawberry.field(
        description="The most a product keeps back (null: no cap)."
    )
    version: int = strawberry.field(
        description="Bumped by every change; see setChannelDemandBuffer's expectedVersion."
    )
    recomputed_at: datetime | None = strawberry.field(
        description="When the buffers were last computed."
    )

    @classmethod
    def from_record(cls, policy: buffers.Policy) -> ChannelDemandBufferPolicy:
        return cls(
            enabled=policy.enabled,
            service_level=policy.service_level,
            lookback_days=policy.lookback_days,
            lead_time_days=policy.lead_time_days,
            minimum_buffer=policy.minimum,
            maximum_buffer=policy.maximum,
            version=policy.version,
            recomputed_at=policy.recomputed_at,
        )


@strawberry.type(
    description="A product's demand-driven buffer on a channel and the inputs it came from; "
    "availableToSell keeps it back (it is the channel inventory's bufferQuantity)."
)
class ChannelDemandBuffer:
    buffer: int = strawberry.field(description="Units kept back from sale.")
    units_sold: int = strawberry.field(description="Units sold on the channel in the days.")
    mean_daily_demand: float = strawberry.field(description="unitsSold / days.")
    daily_deviation: float = strawberry.field(
        description="The sample standard deviation of the daily sales."
    )
    days: int = strawberry.field(description="The days of sales considered.")
    service_level: float = strawberry.field(description="The service level used.")
    z: float = strawberry.field(description="The standard normal quantile of serviceLevel.")
    lead_time_days: float = strawberry.field(description="The lead time used.")
    computed_at: datetime | None = strawberry.field(description="When it was computed.")
    channel_id: strawberry.Private[int]
    product_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Any) -> ChannelDemandBuffer:
        b = buffers.DemandBuffer.from_row(row)
        return cls(
            buffer=b.buffer,
            units_sold=b.units_sold,
            mean_daily_demand=b.mean_daily,
            daily_deviation=b.deviation_daily,
            days=b.days,
            service_level=b.service_level,
            z=b.z,
            lead_time_days=b.lead_time_days,
            computed_at=b.computed_at,
            channel_id=b.channel_id,
            product_id=b.product_id,
        )

    @strawberry.field(description="The product.")
    async def product(self, info: Info) -> Product | None:
        return await Product.load(info, self.product_id)


ChannelDemandBufferConnection = Connection[ChannelDemandBuffer]


@strawberry.type(description="A channel's demand-driven buffers: its policy and each product's.")
class ChannelDemandBuffers:
    policy: ChannelDemandBufferPolicy | None = strawberry.field(
        description="Null: the channel's buffers were never demand-driven."
    )
    channel_id: strawberry.Private[int]
    product_ids: strawberry.Private[list[int] | None]

    @strawberry.field(description="The channel.")
    async def channel(self, info: Info) -> Channel | None:
        record = await load_channel(info, self.channel_id)
        return Channel.from_record(record) if record else None

    @strawberry.field(description="Each product's buffer with its inputs, by product id.")
    async def buffers(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size.")] = None,
        after: Annotated[
            str | None, strawberry.argument(description="The cursor to continue after.")
        ] = None,
    ) -> ChannelDemandBufferConnection:
        listing = buffers.buffer_listing(self.channel_id, self.product_ids)
        return await paginate(
            info,
            listing,
            ChannelDemandBuffer.from_row,
            first,
            after,
            ChannelDemandBufferConnection,
        )


@strawberry.type
class ChannelDemandBufferQuery:
    @strawberry.field(
        permission_classes=[requires(Permission.READ_CHANNEL)],
        description="A channel's demand-driven buffers and their inputs (a bound token's own "
        "channel is the default). " + FORMULA,
    )
    async def channel_demand_buffers(
        self,
        info: Info,
        channel_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="The channel.")
        ] = None,
        channel_code: Annotated[
            str | None, strawberry.argument(description="The channel, by code.")
        ] = None,
        product_ids: Annotated[
            list[strawberry.ID] | None,
            strawberry.argument(description="Only these products (with skus: either)."),
        ] = None,
        skus: Annotated[
            list[str] | None, strawberry.argument(description="Only these products, by SKU.")
        ] = None,
    ) -> ChannelDemandBuffers:
        ref = required_channel_ref(info.context, channel_id, channel_code)
        record = await load_named_channel(info, ref)
        if record is None:
            raise DomainError.of(ErrorCode.NOT_FOUND, "no such channel", ref.field)
        wanted: list[int] | None = None
        if product_ids is not None or skus is not None:
            if len([*(product_ids or []), *(skus or [])]) > MAX_PRODUCTS:
                raise DomainError.of(
                    ErrorCode.INVALID, f"at most {MAX_PRODUCTS} products at once", "productIds"
                )
            found = await product_ids_of(info, product_ids or [], skus or [])
            wanted = [p for p in found if p is not None]
        policy = await info.context.read(lambda conn: buffers.policy_of(conn, record.id))
        return ChannelDemandBuffers(
            policy=ChannelDemandBufferPolicy.from_record(policy) if policy else None,
            channel_id=record.id,
            product_ids=wanted,
        )


@strawberry.input(description="Make a channel's buffers demand-driven (or not). " + FORMULA)
class SetChannelDemandBufferInput:
    channel_id: strawberry.ID | None = strawberry.field(default=None, description="The channel.")
    channel_code: str | None = strawberry.field(default=None, description="The channel, by code.")
    enabled: bool = strawberry.field(
        default=True,
        description="False: back to the default buffers for the products whose buffer is "
        "still the computed one.",
    )
    service_level: float = strawberry.field(
        default=0.95, description="Between 0.5 and 0.9999 (0.95: z = 1.645)."
    )
    lookback_days: int = strawberry.field(
        default=28, description="The days of sales considered (2 to 365)."
    )
    lead_time_days: float = strawberry.field(
        default=1.0,
        description="How long the channel may sell before what it shows is corrected "
        "(above 0, at most 90): a batch channel's sync interval, a replenishment time.",
    )
    minimum_buffer: int = strawberry.field(
        default=1, description="The least a product keeps back (one: the last unit is never shown)."
    )
    maximum_buffer: int | None = strawberry.field(
        default=None, description="The most a product keeps back (null: no cap)."
    )
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse (VERSION_CONFLICT) unless at this version (0: none)."
    )


@strawberry.input(description="Recompute a channel's demand-driven buffers now.")
class RecomputeDemandBuffersInput:
    channel_id: strawberry.ID | None = strawberry.field(default=None, description="The channel.")
    channel_code: str | None = strawberry.field(default=None, description="The channel, by code.")


@strawberry.type
class DemandBufferPayload:
    policy: ChannelDemandBufferPolicy | None = strawberry.field(
        default=None, description="The channel's policy after the change."
    )
    product_count: int = strawberry.field(
        default=0, description="Products whose buffer was computed."
    )
    changed_count: int = strawberry.field(
        default=0, description="Products whose buffer changed (each a CHANNEL_ALLOCATION_CHANGED)."
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing was done."
    )

    @classmethod
    def of(cls, done: buffers.Recomputed) -> Self:
        return cls(
            policy=ChannelDemandBufferPolicy.from_record(done.policy),
            product_count=done.product_count,
            changed_count=done.changed_count,
        )


@strawberry.type
class SetChannelDemandBufferPayload(DemandBufferPayload):
    pass


@strawberry.type
class RecomputeDemandBuffersPayload(DemandBufferPayload):
    pass


@strawberry.type
class ChannelDemandBufferMutation:
    @strawberry.mutation(
        description="Make a channel's buffers demand-driven (computed at once, then on a "
        "schedule), change how, or turn it off."
    )
    async def set_channel_demand_buffer(
        self, info: Info, input: SetChannelDemandBufferInput
    ) -> SetChannelDemandBufferPayload:
        async def work(context: Context) -> SetChannelDemandBufferPayload:
            request = buffers.SetPolicy(
                channel=required_channel_ref(context, input.channel_id, input.channel_code),
                enabled=input.enabled,
                service_level=input.service_level,
                lookback_days=input.lookback_days,
                lead_time_days=input.lead_time_days,
                minimum=input.minimum_buffer,
                maximum=input.maximum_buffer,
                expected_version=input.expected_version,
            )
            done = await context.transaction(lambda conn: buffers.set_policy(conn, request))
            return SetChannelDemandBufferPayload.of(done)

        return await mutate(
            info, Permission.MANAGE_ALLOCATIONS, SetChannelDemandBufferPayload, work
        )

    @strawberry.mutation(description="Recompute a channel's demand-driven buffers now.")
    async def recompute_demand_buffers(
        self, info: Info, input: RecomputeDemandBuffersInput
    ) -> RecomputeDemandBuffersPayload:
        async def work(context: Context) -> RecomputeDemandBuffersPayload:
            channel = required_channel_ref(context, input.channel_id, input.channel_code)
            done = await context.transaction(lambda conn: buffers.recompute(conn, channel))
            return RecomputeDemandBuffersPayload.of(done)

        return await mutate(
            info, Permission.MANAGE_ALLOCATIONS, RecomputeDemandBuffersPayload, work
        )


@strawberry.type(description="A channel's demand-driven buffers were recomputed.")
class DemandBuffersRecomputed(StreamEvent):
    channel_id: strawberry.ID = strawberry.field(description="The channel.")
    trigger: str = strawberry.field(description="MANUAL or SCHEDULED.")
    product_count: int = strawberry.field(description="Products whose buffer was computed.")
    changed_count: int = strawberry.field(description="Products whose buffer changed.")

    @classmethod
    def from_event(cls, event: Published) -> DemandBuffersRecomputed:
        p = event.payload
        return cls(
            sequence=Long(event.sequence),
            published_at=event.created_at,
            channel_id=strawberry.ID(ids.encode("Channel", p["channelId"])),
            trigger=p["trigger"],
            product_count=p["productCount"],
            changed_count=p["changedCount"],
        )


register(Topic.DEMAND_BUFFERS_RECOMPUTED, DemandBuffersRecomputed)
