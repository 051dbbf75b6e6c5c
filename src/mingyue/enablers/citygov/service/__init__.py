"""citygov services. The cases part (this package's modules other than ``broker``,
``subscriptions``, ``telemetry``, ``alarms`` and ``finder``): intake, the closed loop's steps and
their hooks, 督办, sharing, reports and rewards, KPIs, the registries and the Open311 façade.

Import the module you need (``from mingyue.enablers.citygov.service import workflow``); this
package imports nothing itself, so loading one part never loads the others.
"""
