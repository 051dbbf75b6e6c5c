"""Core apps: the core's own routes, pages and commands, declared like enablers."""
