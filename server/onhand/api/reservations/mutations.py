"""Reservation mutations: make (createReservation, reserveCart), release, extend, convert a
cart to an order, fulfil."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import strawberry

from onhand.api import ids
from onhand.api.channels.access import channel_or_own, hold_access
from onhand.api.context import Context, Info
from onhand.api.errors import UserError, user_errors
from onhand.api.inputs import IDEMPOTENCY_KEY, product_ref, warehouse_ref
from onhand.api.permissions import mutate
from onhand.api.reservations.inputs import ShippingAddressInput, destination
from onhand.api.reservations.submit import submit
from onhand.api.reservations.types import Reservation, ReservationFailure, ReservationTypeEnum
from onhand.auth.roles import Permission
from onhand.core.errors import DomainError
from onhand.core.refs import Ref
from onhand.inventory.reservations import changes
from onhand.inventory.reservations import model as domain
from onhand.inventory.reservations.model import ReservationType
from onhand.inventory.reservations.requests import (
    LineFailure,
    Reserved,
    ReserveLine,
    ReserveRequest,
)

EXPIRES_AT = strawberry.field(
    default=None,
    description="When the hold lapses. Default: CART 30 minutes, TRANSFER 24 hours (see "
    "configuration); ORDER reservations never expire.",
)
WAREHOUSE = strawberry.field(
    default=None, description="Where to hold the stock; default: routing chooses."
)
ADDRESS = strawberry.field(
    default=None, description="Where it ships (latitude, longitude): routing prefers nearby."
)
PICKUP_LOCATION_ID = strawberry.field(
    default=None,
    description="Click-and-collect: hold every line at this pickup location only (a "
    "warehouse with the PICKUP capability that fulfils the channel); the reservations show it "
    "as pickupLocation. NOT_A_PICKUP_LOCATION otherwise.",
)
PICKUP_LOCATION_CODE = strawberry.field(
    default=None, description="Or the pickup location by its warehouse code."
)


@strawberry.input(description="Reserve one product (the seed's createReservation).")
class CreateReservationInput:
    product_id: strawberry.ID | None = None
    sku: str | None = None
    variant_id: str | None = strawberry.field(
        default=None,
        description="The client's variant id (the product's externalVariantId): names the "
        "product alone, or must agree with productId or sku.",
    )
    quantity: int
    type: ReservationTypeEnum = ReservationType.CART  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    reference_id: str | None = strawberry.field(
        default=None, description="The cart, order or transfer id."
    )
    expires_at: datetime | None = EXPIRES_AT
    channel_id: strawberry.ID | None = None
    channel_code: str | None = None
    warehouse_id: strawberry.ID | None = WAREHOUSE
    warehouse_code: str | None = None
    shipping_address: ShippingAddressInput | None = ADDRESS
    pickup_location_id: strawberry.ID | None = PICKUP_LOCATION_ID
    pickup_location_code: str | None = PICKUP_LOCATION_CODE
    idempotency_key: str | None = IDEMPOTENCY_KEY


@strawberry.input
class ReservationLineInput:
    product_id: strawberry.ID | None = None
    sku: str | None = None
    variant_id: str | None = None
    quantity: int
    warehouse_id: strawberry.ID | None = WAREHOUSE
    warehouse_code: str | None = None


@strawberry.input(description="Reserve several lines at once (a cart).")
class ReserveCartInput:
    reference_id: str | None = strawberry.field(default=None, description="The cart id.")
    lines: list[ReservationLineInput]
    type: ReservationTypeEnum = ReservationType.CART  # type: ignore[valid-type]  # a strawberry.enum: a type at run time
    channel_id: strawberry.ID | None = None
    channel_code: str | None = None
    expires_at: datetime | None = EXPIRES_AT
    allow_partial: bool = strawberry.field(
        default=False,
        description="false: all lines or none. true: reserve what can be, list the rest in "
        "`failures` with the requested and available quantities.",
    )
    shipping_address: ShippingAddressInput | None = ADDRESS
    pickup_location_id: strawberry.ID | None = PICKUP_LOCATION_ID
    pickup_location_code: str | None = PICKUP_LOCATION_CODE
    idempotency_key: str | None = IDEMPOTENCY_KEY


@strawberry.input(description="Release one reservation, or every active one of a reference.")
class ReleaseReservationInput:
    id: strawberry.ID | None = None
    reference_id: str | None = None
    reason: str | None = None
    idempotency_key: str | None = IDEMPOTENCY_KEY


@strawberry.input
class ExtendReservationInput:
    id: strawberry.ID
    expires_at: datetime | None = strawberry.field(default=None, description="The new expiry.")
    extend_by_seconds: int | None = strawberry.field(
        default=None, description="Or: push the current expiry back by this much."
    )


@strawberry.input(description="The cart became an order: hold its stock for the order.")
class ConvertToOrderReservationInput:
    cart_id: str
    order_id: str
    idempotency_key: str | None = IDEMPOTENCY_KEY


@strawberry.input(description="The order ships: onHand and the held stock fall together.")
class FulfillReservationInput:
    id: strawberry.ID | None = None
    reference_id: str | None = strawberry.field(
        default=None, description="Or every active reservation of this order."
    )
    quantity: int | None = strawberry.field(
        default=None, description="Ship part (one reservation); default: all it holds."
    )
    timestamp: datetime | None = strawberry.field(
        default=None, description="When it shipped (defaults to now)."
    )
    idempotency_key: str | None = IDEMPOTENCY_KEY


@strawberry.type
class CreateReservationPayload:
    reservation: Reservation | None = strawberry.field(
        default=None, description="The reservation (the first, when routing split it)."
    )
    reservations: list[Reservation] = strawberry.field(default_factory=list)
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ReserveCartPayload:
    success: bool = strawberry.field(default=False, description="Every line was reserved.")
    reservations: list[Reservation] = strawberry.field(default_factory=list)
    failures: list[ReservationFailure] = strawberry.field(default_factory=list)
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ReservationsPayload:
    reservation: Reservation | None = None
    reservations: list[Reservation] = strawberry.field(default_factory=list)
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ReleaseReservationPayload(ReservationsPayload):
    pass


@strawberry.type
class ExtendReservationPayload(ReservationsPayload):
    pass


@strawberry.type
class ConvertToOrderReservationPayload(ReservationsPayload):
    pass


@strawberry.type
class FulfillReservationPayload(ReservationsPayload):
    pass


def _product(
    product_id: str | None, sku: str | None, variant_id: str | None, prefix: str
) -> Ref | None:
    if product_id is None and sku is None and variant_id is not None:
        return None
    ref = product_ref(product_id, sku, f"{prefix}productId")
    return ref if ref.id is not None else Ref(key=ref.key, field=f"{prefix}sku")


def _pickup(location_id: str | None, code: str | None) -> Ref | None:
    if location_id is None and code is None:
        return None
    return warehouse_ref(location_id, code, "pickupLocationId", "pickupLocationCode")


def _listed(records: Sequence[domain.Reservation]) -> list[Reservation]:
    return [Reservation.from_record(r) for r in records]


def _id(value: str | None, field: str = "id") -> tuple[int, ...]:
    return (ids.decode(value, "Reservation", field),) if value is not None else ()


@strawberry.type
class ReservationMutation:
    @strawberry.mutation
    async def create_reservation(
        self, info: Info, input: CreateReservationInput
    ) -> CreateReservationPayload:
        async def work(context: Context) -> CreateReservationPayload:
            line = ReserveLine(
                product=_product(input.product_id, input.sku, input.variant_id, ""),
                quantity=input.quantity,
                variant_id=input.variant_id,
                warehouse=warehouse_ref(input.warehouse_id, input.warehouse_code)
                if input.warehouse_id is not None or input.warehouse_code is not None
                else None,
            )
            request = ReserveRequest(
                lines=(line,),
                type=input.type,
                reference_id=input.reference_id,
                channel=channel_or_own(context, input.channel_id, input.channel_code),
                expires_at=input.expires_at,
                destination=destination(input.shipping_address),
                idempotency_key=input.idempotency_key,
                operation="createReservation",
                pickup_location=_pickup(input.pickup_location_id, input.pickup_location_code),
            )
            result = await submit(context, request)
            made = _listed(result.reservations)
            return CreateReservationPayload(reservation=made[0], reservations=made)

        return await mutate(info, Permission.RESERVE_STOCK, CreateReservationPayload, work)

    @strawberry.mutation
    async def reserve_cart(self, info: Info, input: ReserveCartInput) -> ReserveCartPayload:
        async def work(context: Context) -> ReserveCartPayload:
            lines = tuple(
                ReserveLine(
                    product=_product(line.product_id, line.sku, line.variant_id, f"lines.{i}."),
                    quantity=line.quantity,
                    variant_id=line.variant_id,
                    warehouse=warehouse_ref(
                        line.warehouse_id,
                        line.warehouse_code,
                        f"lines.{i}.warehouseId",
                        f"lines.{i}.warehouseCode",
                    )
                    if line.warehouse_id is not None or line.warehouse_code is not None
                    else None,
                    prefix=f"lines.{i}.",
                )
                for i, line in enumerate(input.lines)
            )
            request = ReserveRequest(
                lines=lines,
                type=input.type,
                reference_id=input.reference_id,
                channel=channel_or_own(context, input.channel_id, input.channel_code),
                expires_at=input.expires_at,
                allow_partial=input.allow_partial,
                destination=destination(input.shipping_address),
                idempotency_key=input.idempotency_key,
                operation="reserveCart",
                pickup_location=_pickup(input.pickup_location_id, input.pickup_location_code),
            )
            try:
                result: Reserved = await submit(context, request)
            except DomainError as error:
                return ReserveCartPayload(
                    success=False,
                    failures=[ReservationFailure.from_record(f) for f in _failures_of(error)],
                    errors=user_errors(error),
                )
            return ReserveCartPayload(
                success=not result.failures,
                reservations=_listed(result.reservations),
                failures=[ReservationFailure.from_record(f) for f in result.failures],
            )

        return await mutate(info, Permission.RESERVE_STOCK, ReserveCartPayload, work)

    @strawberry.mutation
    async def release_reservation(
        self, info: Info, input: ReleaseReservationInput
    ) -> ReleaseReservationPayload:
        async def work(context: Context) -> ReleaseReservationPayload:
            request = changes.Release(
                ids=_id(input.id),
                reference_id=input.reference_id,
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
            records = await context.transaction(
                lambda conn: changes.release(
                    conn, request, context.change_context(), hold_access(context)
                )
            )
            made = _listed(records)
            return ReleaseReservationPayload(reservation=made[0], reservations=made)

        return await mutate(info, Permission.RESERVE_STOCK, ReleaseReservationPayload, work)

    @strawberry.mutation
    async def extend_reservation(
        self, info: Info, input: ExtendReservationInput
    ) -> ExtendReservationPayload:
        async def work(context: Context) -> ExtendReservationPayload:
            request = changes.Extend(
                id=_id(input.id)[0],
                expires_at=input.expires_at,
                extend_by_seconds=input.extend_by_seconds,
            )
            record = await context.transaction(
                lambda conn: changes.extend(
                    conn, request, context.change_context(), hold_access(context)
                )
            )
            made = _listed([record])
            return ExtendReservationPayload(reservation=made[0], reservations=made)

        return await mutate(info, Permission.RESERVE_STOCK, ExtendReservationPayload, work)

    @strawberry.mutation
    async def convert_to_order_reservation(
        self, info: Info, input: ConvertToOrderReservationInput
    ) -> ConvertToOrderReservationPayload:
        async def work(context: Context) -> ConvertToOrderReservationPayload:
            request = changes.Convert(
                cart_id=input.cart_id,
                order_id=input.order_id,
                idempotency_key=input.idempotency_key,
            )
            records = await context.transaction(
                lambda conn: changes.convert(
                    conn, request, context.change_context(), hold_access(context)
                )
            )
            made = _listed(records)
            return ConvertToOrderReservationPayload(
                reservation=made[0] if made else None, reservations=made
            )

        return await mutate(info, Permission.RESERVE_STOCK, ConvertToOrderReservationPayload, work)

    @strawberry.mutation
    async def fulfill_reservation(
        self, info: Info, input: FulfillReservationInput
    ) -> FulfillReservationPayload:
        async def work(context: Context) -> FulfillReservationPayload:
            request = changes.Fulfill(
                ids=_id(input.id),
                reference_id=input.reference_id,
                quantity=input.quantity,
                occurred_at=input.timestamp,
                idempotency_key=input.idempotency_key,
            )
            records = await context.transaction(
                lambda conn: changes.fulfill(
                    conn, request, context.change_context(), hold_access(context)
                )
            )
            made = _listed(records)
            return FulfillReservationPayload(reservation=made[0], reservations=made)

        return await mutate(info, Permission.RESERVE_STOCK, FulfillReservationPayload, work)


def _failures_of(error: DomainError) -> list[LineFailure]:
    """The seed's ReservationResult failures, for an all-or-nothing cart refused for stock."""
    failures = []
    for problem in error.problems:
        details = problem.details
        if "product_id" not in details or problem.field is None:
            continue
        line = int(problem.field.split(".")[1]) if problem.field.startswith("lines.") else 0
        failures.append(
            LineFailure(
                line,
                problem.field,
                details["product_id"],
                details["requested"],
                details["available"],
                problem.message,
            )
        )
    return failures
