"""citygov engines: pure domain work (no web, no database)."""
