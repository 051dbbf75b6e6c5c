"""The console pieces telemetry hands to the pages: the live alarm panel (zh-CN first, no raw
JSON, escaped device text) and the device layer of the map (GeoJSON, lon/lat)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from citygov_tele_support import register

from mingyue.enablers.citygov.service import telemetry
from mingyue.sdk import unit_of_work
from mingyue.web.console import environment
from mingyue.web.display import rendering_locale


def _render(ctx: dict, locale: str) -> str:
    with rendering_locale(locale):
        return (
            environment()
            .get_template("citygov/_alarms.html")
            .render(**ctx, locale=locale, csrf_input=lambda: "", poll=5)
        )


def test_alarm_panel_and_device_layer(client, tenants, settings, actor_of) -> None:
    dev = register(
        client, tenants.a.headers(admin=True), name="<b>化粪池</b>", lon=106.55, lat=29.56
    )
    at = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()
    r = client.post(
        "/telemetry/v1/septic_tank/st-0001",
        json={"ts": at, "ch4": 60},
        headers={"X-Device-Token": dev["token"]},
    )
    assert r.status_code == 202
    member = actor_of(tenants.a.member)
    with unit_of_work(member, settings) as uow:
        ctx = telemetry.alarm_panel(uow=uow, actor=member)
        layer = telemetry.device_layer(uow=uow, actor=member)
    assert ctx["counts"] == {"critical": 1} and ctx["can_handle"] is True
    assert ctx["mqtt"]["state"] == "off" and ctx["mqtt"]["http"] is True
    zh = _render(ctx, "zh_CN")
    assert "设备告警" in zh and "紧急" in zh and "化粪池甲烷浓度超限" in zh and "确认" in zh
    assert "未运行物联网消息订阅" in zh
    assert "{" not in zh.replace("{{", "")  # no raw JSON
    en = _render(ctx, "en")
    assert "Device alarms" in en and "Critical" in en and "Septic-tank methane" in en
    assert layer["type"] == "FeatureCollection"
    (feature,) = layer["features"]
    assert feature["geometry"]["coordinates"] == [106.55, 29.56]
    assert feature["properties"]["alarm"] == "critical"
    assert feature["properties"]["name"] == "<b>化粪池</b>"  # data; the page escapes it
