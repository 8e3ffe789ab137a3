"""Transfer orders between warehouses and the discrepancies of their receipts."""
