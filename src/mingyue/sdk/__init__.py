"""``mingyue.sdk``: the core's one typed public face for enablers.

An enabler imports this package (and ``mingyue.web.deps``, ``mingyue.web.console``,
``mingyue.cli_support`` for its routers, pages and commands) and nothing else of the platform;
``mingyue dev check`` enforces it. What is here is supported: a name that leaves goes through a
deprecation; what is not here is the core's business.

- declare: ``Enabler``, ``NavItem``, ``MeterSpec``, ``CaseKind``/``State``/``Transition``
- act: ``UnitOfWork`` (``uow.audit(...)``), ``unit_of_work``, ``Actor``, ``check``, ``can``,
  ``require_org``; tables: ``Base``, ``TenantMixin``, ``UTCDateTime``, ``RequestMixin``
- flows: ``open_case``/``transition``/``get_case``/``list_cases``/``comment``; ``enqueue``/
  ``JobContext``/``JobOut``; ``record_usage``/``record_count``; ``store_upload``/``stored_path``;
  ``issue_credential`` → ``IssuedCredential``; ``seal``/``unseal``
- time: ``now()`` (one clock, frozen in tests), ``local_time()``, ``month_bounds()``
- hooks: ``JobHandler`` and ``CaseHook`` Protocols, checked by ``mingyue dev check``
"""

from mingyue.sdk._facade import (
    OVERSIGHT_ROLES,
    SYSTEM,
    Actor,
    Base,
    CaseDetail,
    CaseHook,
    CaseKind,
    CaseOut,
    Enabler,
    FreePoolOut,
    IssuedCredential,
    JobContext,
    JobHandler,
    JobOut,
    MeterSpec,
    NavItem,
    OrganizationOut,
    RequestMixin,
    SecretUnreadable,
    Settings,
    State,
    StoredFile,
    TenantMixin,
    Transition,
    UnitOfWork,
    UsageOut,
    UTCDateTime,
    actor_of_user,
    can,
    check,
    comment,
    enqueue,
    get_case,
    get_free_pool,
    get_job,
    get_settings,
    get_visible,
    issue_credential,
    list_cases,
    list_jobs,
    local_time,
    month_bounds,
    now,
    open_case,
    organization,
    record_count,
    record_usage,
    require_org,
    run_job_now,
    seal,
    set_free_pool,
    statement_total,
    store_upload,
    stored_path,
    transition,
    unit_of_work,
    unseal,
)
from mingyue.sdk.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    MingyueError,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    RecordedRefusal,
    Refused,
)

__all__ = [
    "OVERSIGHT_ROLES", "SYSTEM", "Actor", "Base", "CaseDetail", "CaseHook", "CaseKind", "CaseOut",
    "Conflict", "Enabler", "Forbidden", "FreePoolOut", "InvalidInput", "IssuedCredential",
    "JobContext", "JobHandler", "JobOut", "MeterSpec", "MingyueError", "NavItem",
    "NotAuthenticated", "NotFound", "OrganizationOut", "PayloadTooLarge", "QuotaExceeded",
    "RecordedRefusal", "Refused", "RequestMixin", "SecretUnreadable", "Settings", "State",
    "StoredFile", "TenantMixin", "Transition", "UTCDateTime", "UnitOfWork", "UsageOut",
    "actor_of_user", "can", "check", "comment", "enqueue", "get_case", "get_free_pool", "get_job",
    "get_settings", "get_visible", "issue_credential", "list_cases", "list_jobs", "local_time",
    "month_bounds", "now", "open_case", "organization", "record_count", "record_usage",
    "require_org", "run_job_now", "seal", "set_free_pool", "statement_total", "store_upload",
    "stored_path", "transition", "unit_of_work", "unseal",
]
