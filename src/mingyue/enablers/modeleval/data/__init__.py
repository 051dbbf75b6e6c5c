"""Built-in suites of modeleval (JSONL; sources in SOURCE.md)."""
