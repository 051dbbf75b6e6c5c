"""Metering and billing: meters, tariffs, usage records, free pools, statements (public API)."""

from mingyue.core.metering.service import (
    FreePoolOut as FreePoolOut,
)
from mingyue.core.metering.service import (
    PricedSegment as PricedSegment,
)
from mingyue.core.metering.service import (
    SegmentOut as SegmentOut,
)
from mingyue.core.metering.service import (
    TariffOut as TariffOut,
)
from mingyue.core.metering.service import (
    TariffSpec as TariffSpec,
)
from mingyue.core.metering.service import (
    UsageOut as UsageOut,
)
from mingyue.core.metering.service import (
    UsageRecord as UsageRecord,
)
from mingyue.core.metering.service import (
    check_cap as check_cap,
)
from mingyue.core.metering.service import (
    consume_free as consume_free,
)
from mingyue.core.metering.service import (
    create_tariff as create_tariff,
)
from mingyue.core.metering.service import (
    generate_due_statements as generate_due_statements,
)
from mingyue.core.metering.service import (
    generate_statement as generate_statement,
)
from mingyue.core.metering.service import (
    get_free_pool as get_free_pool,
)
from mingyue.core.metering.service import (
    get_statement as get_statement,
)
from mingyue.core.metering.service import (
    list_statements as list_statements,
)
from mingyue.core.metering.service import (
    list_tariffs as list_tariffs,
)
from mingyue.core.metering.service import (
    list_usage as list_usage,
)
from mingyue.core.metering.service import (
    meters as meters,
)
from mingyue.core.metering.service import (
    price_interval as price_interval,
)
from mingyue.core.metering.service import (
    record_usage as record_usage,
)
from mingyue.core.metering.service import (
    register_meter as register_meter,
)
from mingyue.core.metering.service import (
    set_free_pool as set_free_pool,
)
from mingyue.core.metering.service import (
    set_pool_default as set_pool_default,
)
from mingyue.core.metering.service import (
    statement_total as statement_total,
)
from mingyue.core.metering.service import (
    tariff_spec as tariff_spec,
)
from mingyue.core.metering.service import (
    usage_summary as usage_summary,
)
