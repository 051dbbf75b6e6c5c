"""NGSI-LD context broker use cases: entities of one tenant (organization), stored expanded.

Every function takes the unit of work and the tenant's organization id; the API decides the
tenant (the caller's organization, or another one named by ``NGSILD-Tenant`` for a platform
administrator) and the ``@context``. Writes fire matching subscriptions after the commit
(``service.subscriptions``).

This module is the broker's one face (``from mingyue.enablers.citygov.service import broker``);
the work lives in:

- ``broker_store``: an entity's row and query columns, Smart Data Model validation on write;
- ``broker_entities``: create, read, replace, delete and import entities;
- ``broker_attrs``: update, append, merge, replace and delete attributes;
- ``broker_query``: queries, types and attributes (discovery);
- ``broker_mirror``: the interface telemetry and the finder use (``upsert_entity_attrs``,
  ``upsert_entities_attrs``, ``get_entity``, ``query_entities``, ``all_entities``);
- ``broker_batch``: batch entity operations.
"""

from __future__ import annotations

from mingyue.enablers.citygov.engine.ngsi.render import RenderOptions, render
from mingyue.enablers.citygov.service.broker_attrs import (
    UpdateResult,
    append_attrs,
    delete_attr,
    fragment_with_value,
    merge_entity,
    patch_attr,
    replace_attr,
    update_attrs,
)
from mingyue.enablers.citygov.service.broker_entities import (
    create_entity,
    delete_entity,
    exists,
    get_doc,
    import_entities,
    replace_entity,
    require_doc,
)
from mingyue.enablers.citygov.service.broker_mirror import (
    AttrsUpdate,
    all_entities,
    get_entity,
    query_entities,
    upsert_entities_attrs,
    upsert_entity_attrs,
)
from mingyue.enablers.citygov.service.broker_query import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    EntityQuery,
    attribute_names,
    count_types,
    run_query,
)
from mingyue.enablers.citygov.service.broker_store import timestamp
from mingyue.enablers.citygov.service.ngsi_context import active_context, core_context

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "AttrsUpdate",
    "EntityQuery",
    "RenderOptions",
    "UpdateResult",
    "active_context",
    "all_entities",
    "append_attrs",
    "attribute_names",
    "core_context",
    "count_types",
    "create_entity",
    "delete_attr",
    "delete_entity",
    "exists",
    "fragment_with_value",
    "get_doc",
    "get_entity",
    "import_entities",
    "merge_entity",
    "patch_attr",
    "query_entities",
    "render",
    "replace_attr",
    "replace_entity",
    "require_doc",
    "run_query",
    "timestamp",
    "update_attrs",
    "upsert_entities_attrs",
    "upsert_entity_attrs",
]
