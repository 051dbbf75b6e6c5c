"""Domain work of digitalasset: pure functions on plain inputs (no web, no database, no globals)."""
