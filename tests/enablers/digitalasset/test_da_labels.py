"""Address label store: kinds, confidence, hub inference, CSV import."""

from __future__ import annotations

import pytest

from mingyue.enablers.digitalasset.engine.labels import (
    AddressLabel,
    LabelStore,
    inferred_confidence,
    parse_labels_csv,
)
from mingyue.sdk.errors import InvalidInput


def test_hub_label_and_confidence_threshold() -> None:
    store = LabelStore(
        [
            AddressLabel("0xAbC", "exchange", "analyst", 0.9),
            AddressLabel("0xdef", "hot_wallet", "rumour", 0.2),
            AddressLabel("0x123", "watchlist", "police", 1.0),
        ]
    )
    assert store.hub_label("0xabc") is not None and store.hub_label("0xabc").kind == "exchange"
    assert store.hub_label("0xdef") is None  # below 0.5
    assert store.hub_label("0x123") is None  # a watchlist entry is no hub
    assert store.hubs() == {"0xabc"}
    assert len(store) == 3 and store.get("0XABC")[0].source == "analyst"


def test_inferred_hubs_do_not_override_a_known_label() -> None:
    store = LabelStore([AddressLabel("0xf1", "platform", "ops", 1.0)])
    added = store.infer_hubs({"0xf1": 100, "0xf2": 40, "0xf3": 3}, min_degree=20)
    assert [(h.address, h.kind) for h in added] == [("0xf2", "inferred_hub")]
    assert added[0].confidence == inferred_confidence(40, 20) == 0.75
    assert store.hub_label("0xf1").kind == "platform"


def test_bad_labels_are_refused() -> None:
    with pytest.raises(InvalidInput):
        AddressLabel("0x1", "friend", "x", 1.0)
    with pytest.raises(InvalidInput):
        AddressLabel("0x1", "exchange", "x", 1.5)
    with pytest.raises(InvalidInput):
        AddressLabel("  ", "exchange", "x", 1.0)


def test_parse_labels_csv() -> None:
    labels = parse_labels_csv(
        "address,kind,confidence\n0xAA,Exchange,0.8\n0xbb,mixer,\n", default_source="f"
    )
    assert [(x.address, x.kind, x.confidence, x.source) for x in labels] == [
        ("0xaa", "exchange", 0.8, "f"),
        ("0xbb", "mixer", 1.0, "f"),
    ]
    with pytest.raises(InvalidInput, match="lacks the column"):
        parse_labels_csv("addr,kind\n")
    with pytest.raises(InvalidInput, match="line 2"):
        parse_labels_csv("address,kind,confidence\n0x1,exchange,high\n")
