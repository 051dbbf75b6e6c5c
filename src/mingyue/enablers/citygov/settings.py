"""Typed options of the citygov enabler, read from ``MINGYUE_CITYGOV__*``.

The core's ``Settings.citygov`` holds the raw nested group; this model validates it. Every field
is listed in docs/settings.md (a test fails on an undocumented one). Category time limits, the
KPI weights and rewards are data (``rules/categories.yaml``, ``rules/kpi.yaml``), not options.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mingyue.sdk import Settings
from mingyue.sdk.errors import InvalidInput


class CitygovSettings(BaseModel):
    """Options of the citygov enabler (``MINGYUE_CITYGOV__<FIELD>``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    centre_org: str = Field(
        "",
        max_length=200,
        description="Name of the organization that runs the city-management command centre "
        "(指挥中心): it owns every city case; its reviewers register, dispatch and verify. "
        "Empty: the oldest operator organization.",
    )
    supervisor_org: str = Field(
        "",
        max_length=200,
        description="Name of the organization an overdue case is escalated to after repeated "
        "督办 (the supervising authority). Empty: the command centre's organization.",
    )
    work_hours: str = Field(
        "09:00-12:00,14:00-18:00",
        description="Working hours of a working day (local time, comma-separated HH:MM-HH:MM "
        "windows); SLA clocks in working hours run only inside them, on mainland working days.",
    )
    supervise_repeat_work_hours: float = Field(
        4.0,
        gt=0,
        le=240,
        description="Working hours between two 督办 notices of the same overdue task.",
    )
    escalate_after_supervisions: int = Field(
        2,
        ge=1,
        le=20,
        description="督办 notices after which an overdue task is escalated to the supervising "
        "organization and a finding is raised against the unit.",
    )
    service_area: str = Field(
        "105.28,28.16,110.19,32.20",
        description="Bounding box of the city (WGS84 `min_lon,min_lat,max_lon,max_lat`); a "
        "location outside it is refused, and one whose swapped coordinates fall inside is "
        "refused as swapped (GeoJSON order is lon,lat). Default: Chongqing municipality.",
    )
    dedup_radius_m: float = Field(
        50.0,
        gt=0,
        le=5000,
        description="Radius in metres within which a report of the same category joins an "
        "open case instead of opening a new one (and earns no second reward).",
    )
    dedup_window_hours: float = Field(
        72.0,
        gt=0,
        le=24 * 90,
        description="How far back (hours) an open case of the same category counts as the "
        "same problem for de-duplication.",
    )
    reward_daily_cap: int = Field(
        3,
        ge=0,
        le=1000,
        description="Rewarded reports per person and local day (你发现、我奖励); a report past "
        "the cap is closed normally but credited nothing.",
    )
    max_photo_bytes: int = Field(
        8 * 1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Largest photo a report or a feedback may carry (413 past it).",
    )
    max_photo_pixels: int = Field(
        40_000_000,
        ge=10_000,
        le=200_000_000,
        description="Largest photo in pixels (width x height) decoded; a larger one is refused "
        "before decoding (decompression bombs).",
    )
    share_hosts: tuple[str, ...] = Field(
        (),
        description="Host names a cross-department webhook may be delivered to, comma-separated; "
        "any other URL is refused when the subscription is made (no user-chosen address is "
        "fetched). Empty: webhooks are refused and only in-platform inbox delivery works.",
    )
    share_max_attempts: int = Field(
        6,
        ge=1,
        le=50,
        description="Delivery attempts of one shared event before it is marked dead "
        "(exponential back-off from 30 s).",
    )
    kpi_weights: str = Field(
        "",
        max_length=400,
        description="Weights of the composite ranking (综合评价) as `name:weight,…` over "
        "closed_on_time_rate, close_rate, rework_rate, overdue, avg_handle_hours, "
        "verify_on_time_rate; empty: rules/kpi.yaml.",
    )
    mqtt_url: str = Field(
        "mqtt://127.0.0.1:1883",
        max_length=300,
        description="MQTT broker `mingyue serve` subscribes to for telemetry "
        "(`city/<type>/<entity id>`); the console says so when none answers, and HTTP ingest "
        "keeps working.",
    )
    mqtt_shared_group: str = Field(
        "",
        max_length=40,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="Empty (default): one web process per data directory subscribes to "
        "`city/#` and the others stand by. A name: every web process subscribes to "
        "`$share/<name>/city/#` (MQTT v5 shared subscription) and the broker splits the load; "
        "Mosquitto 2.0.11 loses the shared messages in flight when it restarts (docs/citygov.md).",
    )
    mqtt_client_id: str = Field(
        "",
        max_length=60,
        pattern=r"^[A-Za-z0-9_.-]*$",
        description="Stem of the subscriber's MQTT client id, `<stem>-<slot>`; stable across "
        "restarts so the broker keeps the persistent session. Empty: `mingyue-<host name>`.",
    )
    telemetry_max_bytes: int = Field(
        4096,
        ge=64,
        le=1024 * 1024,
        description="Largest telemetry message (MQTT payload or HTTP body, bytes); a larger one "
        "is refused and counted.",
    )
    telemetry_max_skew_s: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="How far (seconds) a message's `ts` may be ahead of the platform's clock; "
        "a later one is refused as coming from the future.",
    )
    telemetry_rate_per_s: float = Field(
        1.0,
        gt=0,
        le=100_000,
        description="Messages a second one device may send on average (token bucket); past it "
        "and its burst a message is refused as a flood and counted.",
    )
    telemetry_burst: int = Field(
        30,
        ge=1,
        le=1_000_000,
        description="Messages one device may send at once above its rate before it is limited.",
    )
    # -- NGSI-LD context broker (C2) --
    ngsi_notify_hosts: tuple[str, ...] = Field(
        (),
        description="Hosts (`host` or `host:port`) NGSI-LD subscriptions may send HTTP "
        "notifications to, comma-separated; loopback is also allowed outside prod. Any other "
        "endpoint is refused when the subscription is made and again before each delivery.",
    )
    ngsi_mqtt_brokers: tuple[str, ...] = Field(
        ("127.0.0.1:1883", "localhost:1883"),
        description="MQTT brokers (`host:port`) NGSI-LD subscriptions may publish "
        "notifications to (`mqtt://host:port/topic`), comma-separated.",
    )
    ngsi_context_files: tuple[str, ...] = Field(
        (),
        description="Extra JSON-LD contexts served from local files, comma-separated "
        "`URL=PATH` pairs (an @context naming URL is read from PATH, never fetched).",
    )
    ngsi_context_urls: tuple[str, ...] = Field(
        (),
        description="URL prefixes the broker may fetch a JSON-LD @context from (e.g. an "
        "internal context server), comma-separated; 256 KiB and 5 s at most, cached. Any other "
        "unknown remote context answers 503 LdContextNotAvailable.",
    )
    ngsi_validate_models: bool = Field(
        True,
        description="Validate entities of the Smart Data Models types the enabler ships "
        "schemas for (ParkingSpot, OffStreetParking, WasteContainer, Open311 service "
        "requests…) against their JSON Schema; an invalid one answers 400 BadRequestData.",
    )

    @field_validator(
        "ngsi_notify_hosts",
        "ngsi_mqtt_brokers",
        "ngsi_context_files",
        "ngsi_context_urls",
        mode="before",
    )
    @classmethod
    def _split_ngsi(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(h.strip() for h in value.split(",") if h.strip())
        return value

    @field_validator("share_hosts", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(h.strip().lower() for h in value.split(",") if h.strip())
        return value


def options(settings: Settings) -> CitygovSettings:
    """Return the validated citygov options (InvalidInput naming the bad option)."""
    try:
        return CitygovSettings.model_validate(settings.enabler("citygov"))
    except ValidationError as exc:
        err = exc.errors()[0]
        opt = "MINGYUE_CITYGOV__" + str(err["loc"][0]).upper() if err["loc"] else "?"
        raise InvalidInput("citygov.settings", f"{opt}: {err['msg']}", field=opt) from exc
