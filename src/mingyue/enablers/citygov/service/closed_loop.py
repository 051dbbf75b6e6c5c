"""The entry the telemetry part uses: a critical alarm opens a city case (信息采集, source sensor)."""

from __future__ import annotations

from mingyue.sdk import UnitOfWork

from .intake import open_city_case


def open_from_alarm(
    uow: UnitOfWork,
    *,
    org_id: int,
    alarm_id: int,
    category: str,
    title: str,
    lon: float,
    lat: float,
    source: str,
) -> int:
    """Open (once per alarm) the city case of a critical alarm; return its citygov case id.

    ``org_id`` owns the device (kept as the case's source organization); ``category`` is a
    category code (``C0302``) or alias (``septic_tank``, ``tree_tilt``, ``overload``);
    ``source`` says where the alarm came from (``mqtt``, ``http``, a device id). The same
    ``alarm_id`` of the same organization returns the case it already opened. The returned id
    is the one of ``/citygov/cases/{id}`` and ``/api/citygov/cases/{id}``.
    """
    row = open_city_case(
        uow,
        category_code=category,
        title=title,
        description=f"告警 #{alarm_id}（{source}）",
        lon=lon,
        lat=lat,
        address="",
        source="sensor",
        source_ref=f"alarm:{alarm_id}",
        source_org_id=org_id,
        idempotency_key=f"alarm:{org_id}:{alarm_id}",
        via_platform=True,
    )
    return int(row.id)
