"""Alert mutations: acknowledging (someone is on it) and resolving the kinds nothing else
resolves."""

from __future__ import annotations

import strawberry

from onhand.api import ids
from onhand.api.alerts.types import Alert
from onhand.api.context import Context, Info
from onhand.api.errors import UserError
from onhand.api.permissions import mutate
from onhand.auth.roles import Permission
from onhand.inventory.alerts import model as alerts


@strawberry.input
class AcknowledgeAlertInput:
    alert_id: strawberry.ID


@strawberry.input
class ResolveAlertInput:
    alert_id: strawberry.ID


@strawberry.type
class AcknowledgeAlertPayload:
    alert: Alert | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ResolveAlertPayload:
    alert: Alert | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AlertMutation:
    @strawberry.mutation(
        description="OPEN -> ACKNOWLEDGED. The alert still resolves by itself when its "
        "condition clears; acknowledging twice changes nothing."
    )
    async def acknowledge_alert(
        self, info: Info, input: AcknowledgeAlertInput
    ) -> AcknowledgeAlertPayload:
        async def work(context: Context) -> AcknowledgeAlertPayload:
            alert_id = ids.decode(input.alert_id, "Alert", "alertId")
            actor = context.require(Permission.MANAGE_STOCK).name
            found = await context.transaction(lambda c: alerts.acknowledge(c, alert_id, actor))
            return AcknowledgeAlertPayload(alert=Alert.from_record(found))

        return await mutate(info, Permission.MANAGE_STOCK, AcknowledgeAlertPayload, work)

    @strawberry.mutation(
        description="Resolve a TRANSFER_DISCREPANCY or SYNC_STALLED alert by hand (stock "
        "alerts resolve by themselves when the stock condition clears)."
    )
    async def resolve_alert(self, info: Info, input: ResolveAlertInput) -> ResolveAlertPayload:
        async def work(context: Context) -> ResolveAlertPayload:
            alert_id = ids.decode(input.alert_id, "Alert", "alertId")
            actor = context.require(Permission.MANAGE_STOCK).name
            found = await context.transaction(lambda c: alerts.resolve(c, alert_id, actor))
            return ResolveAlertPayload(alert=Alert.from_record(found))

        return await mutate(info, Permission.MANAGE_STOCK, ResolveAlertPayload, work)
