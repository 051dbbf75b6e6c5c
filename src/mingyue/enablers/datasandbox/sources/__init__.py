"""Dataset sources outside the platform (PostgreSQL): tables, use cases, routes, pages, commands.

``service`` registers and refreshes snapshots; ``api``, ``console`` and ``cli`` are mounted by the
enabler's own router, console and CLI; ``models`` holds the ``datasandbox_source`` and
``datasandbox_snapshot`` tables.
"""
