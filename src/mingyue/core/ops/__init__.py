"""Operating a deployment: readiness, operational figures, deployment checks, backup and restore.

Nothing here runs on a request's hot path: readiness answers a probe, figures answer a scrape of
``/metrics``, checks and backups run from the CLI (``mingyue check --deploy``, ``mingyue backup``,
``mingyue restore``).
"""
