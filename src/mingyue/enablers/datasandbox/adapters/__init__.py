"""SQL engines that run an approved plan: DuckDB in a sandbox process (default), Apache Spark."""
