"""Job spec validation: minimal spec, shorthands, and errors that name the field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mingyue.core.errors import InvalidInput
from mingyue.enablers.compute.engine.spec import (
    DEFAULT_RUNTIME_S,
    load_spec,
    load_spec_text,
    parse_duration,
    parse_memory_mb,
)


def test_minimal_spec() -> None:
    spec = load_spec({"command": "echo hi", "cpus": 1})
    assert spec.command == "echo hi"
    assert spec.kind == "batch"
    d = spec.demand()
    assert (d.cpus, d.gpus, d.gpu_model, d.runtime_s) == (1, 0, None, DEFAULT_RUNTIME_S)


def test_full_spec_from_yaml() -> None:
    spec = load_spec_text(
        """
        name: train
        image: pytorch/pytorch:2.5
        command: python train.py
        inputs: [s3://bucket/data]
        cpus: 8
        gpus: {count: 2, model: a100}
        memory_mb: 32G
        max_runtime_s: 2h
        max_price: "120.50"
        deadline: 2026-11-24T18:00:00+08:00
        preferred_region: liangjiang
        priority: 7
        """
    )
    assert spec.gpus.model == "A100"
    assert spec.memory_mb == 32 * 1024
    assert spec.max_runtime_s == 7200
    assert spec.max_price == Decimal("120.50")
    d = spec.demand()
    assert d.needs_image and d.runtime_s == 7200 and d.region == "liangjiang"


def test_gpu_shorthand_and_reservation() -> None:
    assert load_spec({"command": "x", "gpus": 2}).gpus.count == 2
    spec = load_spec(
        {"reservation": {"start": "2026-11-24T09:00:00+08:00", "duration_s": "2h"}, "cpus": 4}
    )
    assert spec.kind == "reservation"
    assert spec.demand().fixed_start is not None and spec.demand().runtime_s == 7200


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"command": "x", "cpus": -1}, "cpus"),
        ({"command": "x", "cpus": 0}, "cpus"),
        ({"command": "x", "gpus": {"count": 1, "model": "B9000"}}, "gpus.model"),
        ({"command": "x", "gpus": {"count": -2}}, "gpus.count"),
        ({"command": "x", "max_runtime_s": "-5m"}, "max_runtime_s"),
        ({"command": "x", "memory_mb": "lots"}, "memory_mb"),
        ({"command": "x", "max_price": -1}, "max_price"),
        ({"command": "x", "deadline": "2026-11-24T18:00:00"}, "deadline"),
        ({"command": "x", "colour": "red"}, "colour"),
        ({"cpus": 1}, "spec"),
        (
            {
                "command": "x",
                "reservation": {"start": "2026-11-24T09:00:00+08:00", "duration_s": 60},
            },
            "spec",
        ),
    ],
)
def test_invalid_spec_names_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        load_spec(data)
    assert exc.value.field == field, exc.value.message
    assert exc.value.status == 422


def test_run_time_over_pool_maximum() -> None:
    with pytest.raises(InvalidInput) as exc:
        load_spec({"command": "x", "max_runtime_s": "3h"}, max_runtime_s=3600)
    assert exc.value.field == "max_runtime_s"
    assert "pool maximum 3600" in exc.value.message
    assert load_spec({"command": "x", "max_runtime_s": "1h"}, max_runtime_s=3600).max_runtime_s


def test_not_a_mapping_and_bad_yaml() -> None:
    with pytest.raises(InvalidInput):
        load_spec(["echo"])
    with pytest.raises(InvalidInput) as exc:
        load_spec_text("command: [unclosed")
    assert exc.value.key == "compute.spec_unreadable"


def test_parsers() -> None:
    assert parse_duration("90s") == 90
    assert parse_duration("1.5h") == 5400
    assert parse_duration(30) == 30
    assert parse_memory_mb("512MiB") == 512
    assert parse_memory_mb("2G") == 2048
    with pytest.raises(ValueError):
        parse_duration(True)
