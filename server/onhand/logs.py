"""How onhand's processes log: one setup for the command and for the processes it spawns."""

from __future__ import annotations

import logging

from onhand.config import Settings


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Alembic narrates every step at INFO; onhand says what matters itself.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.root.level))
