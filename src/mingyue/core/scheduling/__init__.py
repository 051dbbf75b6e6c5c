"""Periodic work: declared schedules fire platform jobs, once per due time (ADR "scheduler").

To add periodic work: 1. declare a job kind (``job_kinds``); 2. declare
``schedules={"<key>.<name>": Schedule(job_kind=..., cron="0 3 * * *", misfire="run_once")}``
in the Enabler; 3. run ``mingyue dev check``; ``mingyue schedule list`` shows it.

Modules: ``models`` (tables, light), ``triggers`` (checks), ``firing`` (the claim),
``runner`` (APScheduler; imported only where a scheduler runs), ``listing`` (what is shown).
"""
