"""Every setting onhand reads, from environment variables prefixed ``ONHAND_``.

This is the one place configuration is read; everything else receives a ``Settings``.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

POSTGRESQL_SCHEMES = {"postgres", "postgresql"}
# The API's own top-level paths (app.py): the dashboard may not be served under one of them.
RESERVED_PATHS = {"graphql", "graphiql", "healthz", "readyz", "metrics", "exports"}

REDIS_SCHEMES = {"redis", "rediss"}


class CostLimit(BaseModel):
    """A token's leaky bucket of query cost: it may spend `maximum` at once and regains
    `restore_rate` per second."""

    model_config = {"frozen": True}

    maximum: int = Field(gt=0)
    restore_rate: float = Field(gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONHAND_", frozen=True, extra="ignore")

    # Storage and transport. No database URL means the embedded PostgreSQL under data_dir.
    database_url: str | None = None
    # A read replica for queries (mutations, subscriptions and background work always use
    # database_url). Unset: everything goes to database_url.
    read_database_url: str | None = None
    data_dir: Path = Path(".onhand")
    broadcast_url: str = "memory://"
    # The pub/sub channel events travel on; deployments sharing one Redis need their own.
    broadcast_channel: str = "onhand.events"
    # Besides being woken by commits and broadcasts, the relay and each process's hub check
    # the outbox this often, so a lost notification delays an event by at most this long.
    event_poll_seconds: float = Field(default=1.0, gt=0)
    # Redis for what server processes share besides events (the query cost buckets).
    # Unset: the broadcast URL's Redis when it is one, else each process keeps its own.
    redis_url: str | None = None
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    # While the database is away a request fails with UNAVAILABLE instead of waiting: a new
    # connection gives up after db_connect_timeout_seconds (a refused one fails at once; this
    # bounds a server that does not answer at all), and a request waits at most
    # db_pool_timeout_seconds for a connection of the pool when all are busy.
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0)

    # HTTP server.
    host: str = "127.0.0.1"
    # Browser origins allowed to call the API (CORS), e.g. ["https://shop.example.com"].
    cors_origins: list[str] = Field(default_factory=list)
    port: int = Field(default=8000, ge=0, le=65535)
    # Server processes of `onhand serve` (--workers): one per core the API may use.
    workers: int = Field(default=1, ge=1, le=64)
    # Seconds an API token lookup is cached in the process. A revocation or rotation reaches
    # every process at once (LISTEN/NOTIFY); this bounds how long it could go unnoticed
    # should that news be lost (the listening connection down).
    token_cache_seconds: float = Field(default=10.0, ge=0)
    # How often each server process writes when its tokens were last used (one statement
    # for all of them, and once more when it stops): requests themselves never write it.
    token_last_used_seconds: float = Field(default=60.0, gt=0)

    # Query safety.
    max_query_depth: int = Field(default=12, ge=1)
    max_query_tokens: int = Field(default=2000, ge=10)
    # A POSTed JSON query or mutation with a valid document is answered by
    # api/prepared.py, the same steps without strawberry's per-request machinery; false
    # sends every request through strawberry's view.
    prepared_requests: bool = True
    max_aliases: int = Field(default=30, ge=1)
    # Fields one operation may select and fragments a document may define; a fragment's
    # fields count again in each place it is spread.
    max_selections: int = Field(default=2000, ge=1)
    max_fragments: int = Field(default=100, ge=0)
    # The largest request body: a GraphQL request (JSON), and a multipart upload (the largest
    # import file, 256 MiB, and the form around it). Larger ones are answered 413.
    max_request_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=257 * 1024 * 1024, ge=1024)
    max_page_size: int = Field(default=250, ge=1)
    # Query cost (README, "Rate limits and cost"): every API token has a leaky bucket of cost,
    # cost_limit_maximum at most, refilled at cost_limit_restore_rate per second; an operation
    # costing more than is left waits (THROTTLED). Generous by default: limits are for
    # runaway clients. cost_limits overrides them per token name or role, e.g.
    # {"STOREFRONT": {"maximum": 2000, "restore_rate": 100}}. Off: costs are reported only.
    cost_limit: bool = True
    cost_limit_maximum: int = Field(default=200_000, ge=1)
    cost_limit_restore_rate: float = Field(default=20_000, gt=0)
    cost_limits: dict[str, CostLimit] = Field(default_factory=dict)
    mutation_cost: int = Field(default=10, ge=0)
    default_page_size: int = Field(default=50, ge=1)
    graphiql: bool = True
    # The operations dashboard (a page of the API's own client): served at dashboard_path,
    # or not at all when off.
    dashboard: bool = True
    dashboard_path: str = "/dashboard"
    # Off in production when the schema is not for outsiders: introspection is refused and
    # GraphiQL is not served (clients keep working from graphql/schema.graphql).
    expose_schema: bool = True

    # Reservations: how long each type holds stock when the caller gives no expiry.
    cart_reservation_minutes: float = Field(default=30, gt=0)
    transfer_reservation_hours: float = Field(default=24, gt=0)
    sweeper_interval_seconds: float = Field(default=5.0, gt=0)
    # Expired reservations released per sweeper transaction.
    sweeper_batch_size: int = Field(default=5000, ge=1, le=50_000)
    # Batches a sweeper releases at once when many are due (each its own transaction).
    sweeper_concurrency: int = Field(default=2, ge=1, le=16)
    run_workers_in_server: bool = True
    max_cart_lines: int = Field(default=100, ge=1, le=1000)
    # Concurrent reservation requests in one process share one transaction (group commit):
    # a hot product's lock and the commit are paid once per batch instead of per request.
    coalesce_reservations: bool = True
    # How long `onhand serve` lets requests in flight finish after SIGTERM.
    shutdown_grace_seconds: float = Field(default=15.0, gt=0)
    # The same for stock adjustments on one level (inventory/group_commit.py).
    coalesce_writes: bool = True
    # How long a process reuses its measure of how busy each warehouse is (routing).
    routing_stats_seconds: float = Field(default=5.0, ge=0)

    # Channels.
    batch_sync_interval_minutes: float = Field(default=15, gt=0)
    safety_buffer_percent: float = Field(default=5.0, ge=0, le=100)
    # Demand-driven buffers (setChannelDemandBuffer) are recomputed this often, per channel;
    # 0 turns the schedule off (recomputeDemandBuffers still recomputes on demand).
    demand_buffer_interval_minutes: float = Field(default=60, ge=0)

    # Outbound delivery retries: max retries, first delay, backoff factor.
    retry_max: int = Field(default=3, ge=0)
    retry_delay_seconds: float = Field(default=1.0, ge=0)
    retry_backoff: float = Field(default=2.0, ge=1)

    # Webhook delivery: request timeout, deliveries in flight per process and per webhook,
    # and the circuit breaker (failures in a row that open it, seconds it stays open).
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    webhook_concurrency: int = Field(default=32, ge=1)
    webhook_concurrency_per_endpoint: int = Field(default=4, ge=1)
    webhook_failures_to_open: int = Field(default=5, ge=1)
    webhook_open_seconds: float = Field(default=30.0, ge=0)

    # Events kept in the outbox for `after:` replays, at least: the outbox is partitioned by
    # month, and a month is dropped whole once it ended this long ago and the relay, the
    # webhook enqueuer and the alert evaluator are all past it.
    outbox_retention_days: float = Field(default=7, gt=0)
    # The ledger's and the outbox's monthly partitions are created this many months ahead,
    # checked every partition_upkeep_minutes (workers/partition_upkeep.py).
    partition_months_ahead: int = Field(default=2, ge=1, le=24)
    partition_upkeep_minutes: float = Field(default=60, gt=0)
    # A subscriber more than this many events behind is dropped (and told where it was).
    subscriber_buffer_events: int = Field(default=10_000, ge=10)

    # Alerts.
    low_stock_threshold: int = Field(default=10, ge=0)
    high_velocity_units_per_hour: int = Field(default=100, ge=1)
    # One change (an import, a bulk adjustment) raising more LOW_STOCK or OUT_OF_STOCK alerts
    # than this raises one summary alert of that kind instead; 0: always one by one.
    alert_bulk_threshold: int = Field(default=50, ge=0)

    # Reconciliation runs this often (one process at a time); cycle count differences up
    # to this many units are applied at once, larger ones wait for review.
    # 0 turns the scheduled reconciliation off (reconcileInventory still runs on demand).
    reconciliation_interval_minutes: float = Field(default=60, ge=0)
    # The scheduled run repairs reserved and committed drift itself (rebuilt from the live
    # reservations, through the ledger); other drift is left for a person (reconcileInventory
    # with repair: true).
    reconciliation_auto_repair: bool = False
    cycle_count_threshold: int = Field(default=5, ge=0)

    # Idempotency keys are remembered this long.
    idempotency_retention_hours: float = Field(default=48, gt=0)

    # Simulated time, for `onhand simulate` only: the server's schedules run this many times
    # faster than the wall clock (default reservation lifetimes, the sweeper, channel sync
    # intervals and stall deadlines, alert windows, demand buffers, reconciliation, webhook
    # retries and circuit). 1, the default, is real time; the server logs a warning when it
    # is anything else. Request latencies and timeouts are never scaled.
    simulation_speed: float = Field(default=1.0, ge=1, le=100_000)

    log_level: str = "INFO"
    # json: one JSON object per line (for log collectors); text: for a terminal; auto: text
    # when stderr is a terminal, else json.
    log_format: Literal["auto", "json", "text"] = "auto"

    @field_validator("database_url", "read_database_url")
    @classmethod
    def _postgresql_url(cls, url: str | None) -> str | None:
        # Checked here, with the setting's name: the driver would otherwise fail far from
        # the cause (a MySQL URL is tried as PostgreSQL on MySQL's port).
        if not url:
            return url
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (reading it checks it)
        except ValueError as error:
            raise PydanticCustomError(
                "database_url", "is not a valid URL: {reason}", {"reason": str(error)}
            ) from None
        if parts.scheme.split("+")[0] not in POSTGRESQL_SCHEMES:
            raise PydanticCustomError(
                "database_url",
                "must be a PostgreSQL URL, postgresql://user:password@host:port/database,"
                " not {scheme}",
                {"scheme": f"{parts.scheme}://..." if parts.scheme else "one without a scheme"},
            )
        return url

    @field_validator("dashboard_path")
    @classmethod
    def _dashboard_path(cls, path: str) -> str:
        # Checked here, with the setting's name: a path that shadows the API's own routes
        # would otherwise take them over silently.
        if not path.startswith("/") or path == "/" or path.endswith("/") or "//" in path:
            raise PydanticCustomError(
                "dashboard_path", "must be a path like /dashboard (a leading /, no trailing /)"
            )
        if path.split("/")[1] in RESERVED_PATHS:
            raise PydanticCustomError(
                "dashboard_path",
                "may not be under /{name}: the API serves it",
                {"name": path.split("/")[1]},
            )
        return path

    @model_validator(mode="after")
    def _simulated_time(self) -> Settings:
        # The schedules read these settings directly, so scaling them here once is how every
        # loop and default lifetime honours the simulation clock; loops keep a floor so that
        # a fast clock does not turn them into busy loops. (A channel's sync interval is
        # stored in business time and scaled where it is read: `simulated`.)
        speed = self.simulation_speed
        if speed == 1:
            return self
        scaled = {
            "cart_reservation_minutes": self.cart_reservation_minutes / speed,
            "transfer_reservation_hours": self.transfer_reservation_hours / speed,
            "sweeper_interval_seconds": max(0.1, self.sweeper_interval_seconds / speed),
            "demand_buffer_interval_minutes": self.demand_buffer_interval_minutes / speed,
            "reconciliation_interval_minutes": self.reconciliation_interval_minutes / speed,
            "retry_delay_seconds": self.retry_delay_seconds / speed,
            "webhook_open_seconds": self.webhook_open_seconds / speed,
        }
        for name, value in scaled.items():
            # Settings are frozen once made; this is still their making.
            object.__setattr__(self, name, value)
        return self

    def simulated(self, duration: timedelta) -> timedelta:
        """A duration of the business's time (a channel's sync interval, an alert window) as
        the server's clock runs it."""
        return duration / self.simulation_speed

    @property
    def shared_redis_url(self) -> str | None:
        """The Redis server processes share state through, if any."""
        if self.redis_url:
            return self.redis_url
        if urlsplit(self.broadcast_url).scheme in REDIS_SCHEMES:
            return self.broadcast_url
        return None

    @property
    def cart_reservation_ttl(self) -> timedelta:
        return timedelta(minutes=self.cart_reservation_minutes)

    @property
    def transfer_reservation_ttl(self) -> timedelta:
        return timedelta(hours=self.transfer_reservation_hours)

    @property
    def batch_sync_interval(self) -> timedelta:
        return timedelta(minutes=self.batch_sync_interval_minutes)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
