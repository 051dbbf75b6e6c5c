"""Background jobs: kinds, the job table, enqueueing, running, cancelling (public API of the package)."""

from mingyue.core.jobs.service import (
    FINISHED as FINISHED,
)
from mingyue.core.jobs.service import (
    STATUSES as STATUSES,
)
from mingyue.core.jobs.service import (
    SUBMITTABLE as SUBMITTABLE,
)
from mingyue.core.jobs.service import (
    EmbeddedRunner as EmbeddedRunner,
)
from mingyue.core.jobs.service import (
    Job as Job,
)
from mingyue.core.jobs.service import (
    JobCancelled as JobCancelled,
)
from mingyue.core.jobs.service import (
    JobContext as JobContext,
)
from mingyue.core.jobs.service import (
    JobOut as JobOut,
)
from mingyue.core.jobs.service import (
    SelftestParams as SelftestParams,
)
from mingyue.core.jobs.service import (
    enqueue as enqueue,
)
from mingyue.core.jobs.service import (
    get_job as get_job,
)
from mingyue.core.jobs.service import (
    kinds as kinds,
)
from mingyue.core.jobs.service import (
    list_jobs as list_jobs,
)
from mingyue.core.jobs.service import (
    reap as reap,
)
from mingyue.core.jobs.service import (
    register_kind as register_kind,
)
from mingyue.core.jobs.service import (
    request_cancel as request_cancel,
)
from mingyue.core.jobs.service import (
    run_job as run_job,
)
from mingyue.core.jobs.service import (
    run_job_now as run_job_now,
)
from mingyue.core.jobs.service import (
    run_pending as run_pending,
)
from mingyue.core.jobs.service import (
    selftest as selftest,
)
from mingyue.core.jobs.service import (
    submit as submit,
)
