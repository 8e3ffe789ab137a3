"""All table modules, imported for their side effect of registering on the shared MetaData.

Alembic's env.py and the tests import this to see every table.
"""

import onhand.db.alert_tables
import onhand.db.demand_buffer_tables
import onhand.db.import_tables
import onhand.db.source_event_tables
import onhand.db.sync_tables  # noqa: F401
from onhand.db import channel_tables, event_tables, operation_tables, tables  # noqa: F401
from onhand.db.metadata import metadata

__all__ = ["metadata"]
