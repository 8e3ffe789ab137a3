"""Who may do what. Roles are fixed; each grants a set of permissions."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "ADMIN"  # everything, including warehouses, channels, tokens and webhooks
    OPERATOR = "OPERATOR"  # stock changes, products, imports, counts; reads everything
    STOREFRONT = "STOREFRONT"  # reads stock and catalog; makes reservations (may be bound)
    CONNECTOR = "CONNECTOR"  # a marketplace connector, bound to one channel


class Permission(StrEnum):
    READ_CATALOG = "READ_CATALOG"  # products and warehouses
    READ_STOCK = "READ_STOCK"  # inventory levels and summaries
    READ_AUDIT = "READ_AUDIT"  # the ledger
    MANAGE_PRODUCTS = "MANAGE_PRODUCTS"
    MANAGE_STOCK = "MANAGE_STOCK"  # levels, adjustments, transfers, imports, counts
    RESERVE_STOCK = "RESERVE_STOCK"
    MANAGE_WAREHOUSES = "MANAGE_WAREHOUSES"
    MANAGE_CHANNELS = "MANAGE_CHANNELS"
    MANAGE_ALLOCATIONS = "MANAGE_ALLOCATIONS"  # channel allocations and buffers
    READ_CHANNEL = "READ_CHANNEL"  # channel availability and feeds (a connector: its own)
    MANAGE_WEBHOOKS = "MANAGE_WEBHOOKS"
    MANAGE_TOKENS = "MANAGE_TOKENS"
    RECORD_EVENTS = "RECORD_EVENTS"  # push source-system (ERP, warehouse) inventory events


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPERATOR: frozenset(
        {
            Permission.READ_CATALOG,
            Permission.READ_STOCK,
            Permission.READ_AUDIT,
            Permission.MANAGE_PRODUCTS,
            Permission.MANAGE_STOCK,
            Permission.RESERVE_STOCK,
            Permission.READ_CHANNEL,
            Permission.MANAGE_ALLOCATIONS,
            Permission.RECORD_EVENTS,
        }
    ),
    Role.STOREFRONT: frozenset(
        {
            Permission.READ_CATALOG,
            Permission.READ_STOCK,
            Permission.RESERVE_STOCK,
            Permission.READ_CHANNEL,
        }
    ),
    # A connector reads, and reserves (marketplace orders), on its own channel only.
    Role.CONNECTOR: frozenset(
        {Permission.READ_CATALOG, Permission.READ_CHANNEL, Permission.RESERVE_STOCK}
    ),
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in GRANTS[role]
