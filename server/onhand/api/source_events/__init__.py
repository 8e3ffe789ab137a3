"""GraphQL for source-system events: recordInventoryEvents, sourceEvents, sourceSystems."""
