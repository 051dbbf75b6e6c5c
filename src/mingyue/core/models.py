"""Import every core table so that Base.metadata is complete."""

from mingyue.core import forms as _forms
from mingyue.core import plugins
from mingyue.core.cases import models as _cases_models
from mingyue.core.files import store as _files_store
from mingyue.core.findings import models as _findings_models
from mingyue.core.jobs import models as _jobs_models
from mingyue.core.ledger import audit as _audit
from mingyue.core.ledger import credentials as _credentials
from mingyue.core.metering import models as _metering_models
from mingyue.core.scheduling import models as _scheduling_models
from mingyue.core.tenancy import identity as _identity

TABLE_MODULES = (
    _audit,
    _cases_models,
    _credentials,
    _files_store,
    _findings_models,
    _forms,
    _identity,
    _jobs_models,
    _metering_models,
    _scheduling_models,
)


def import_all_models() -> None:
    """Import every installed enabler's models too, so that ``Base.metadata`` is complete."""
    plugins.registry().import_models()
