"""Address label store: who an address is (exchange hot wallet, platform wallet, mixer, ...).

Public monitors raise most of their false "common funder" alerts on hubs: exchange hot wallets,
bridges and the platform's own wallets fund thousands of unrelated users (Dune's
``nft.wash_trades`` excludes CEX and bridge funders; Forta issues #449/#488 are false positives on
exchange and DeFi addresses). The store keeps each label with its source and confidence, and infers
unlabelled hubs from funder out-degree as ``inferred_hub`` labels whose confidence grows with the
degree.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from mingyue.sdk.errors import InvalidInput

LABEL_KINDS: Final = (
    "exchange",
    "hot_wallet",
    "platform",
    "marketplace",
    "bridge",
    "mixer",
    "contract",
    "inferred_hub",
    "watchlist",
    "other",
)
# Kinds whose funding says nothing about common control: a shared first funder of these kinds is
# not evidence. A mixer funds unrelated withdrawers too; its use is worth a label, not a link.
HUB_KINDS: Final = frozenset(
    {"exchange", "hot_wallet", "platform", "marketplace", "bridge", "mixer", "inferred_hub"}
)
HUB_MIN_CONFIDENCE: Final = 0.5


@dataclass(frozen=True, slots=True)
class AddressLabel:
    """One statement about an address: its kind, who says so, how sure."""

    address: str
    kind: str
    source: str
    confidence: float
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in LABEL_KINDS:
            raise InvalidInput(
                "digitalasset.label.bad_kind",
                f"unknown label kind {self.kind!r} (one of {', '.join(LABEL_KINDS)})",
                field="kind",
            )
        if not 0.0 <= self.confidence <= 1.0:
            raise InvalidInput(
                "digitalasset.label.bad_confidence",
                "confidence must lie between 0 and 1",
                field="confidence",
            )
        if not normalise_address(self.address):
            raise InvalidInput(
                "digitalasset.label.bad_address", "the address is empty", field="address"
            )


def normalise_address(address: str) -> str:
    """Return the address as the store keys it (trimmed, lower case: EVM checksums differ by case)."""
    return address.strip().lower()


def inferred_confidence(degree: int, min_degree: int) -> float:
    """Confidence that a funder of ``degree`` addresses is a hub: 0.5 at the threshold, toward 1."""
    if degree < min_degree or min_degree <= 0:
        return 0.0
    return round(min(0.99, 1.0 - min_degree / (2.0 * degree)), 3)


class LabelStore:
    """Labels by address; an address may carry several (the most confident hub label decides)."""

    def __init__(self, labels: Iterable[AddressLabel] = ()) -> None:
        self._by_address: dict[str, list[AddressLabel]] = {}
        for label in labels:
            self.add(label)

    def add(self, label: AddressLabel) -> None:
        """Add one label (the address is normalised)."""
        key = normalise_address(label.address)
        self._by_address.setdefault(key, []).append(label)

    def get(self, address: str) -> list[AddressLabel]:
        """Return every label of an address (empty when unknown)."""
        return list(self._by_address.get(normalise_address(address), ()))

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_address.values())

    def hub_label(
        self, address: str, min_confidence: float = HUB_MIN_CONFIDENCE
    ) -> AddressLabel | None:
        """Return the most confident hub label of an address at or above ``min_confidence``."""
        best: AddressLabel | None = None
        for label in self._by_address.get(normalise_address(address), ()):
            if (
                label.kind in HUB_KINDS
                and label.confidence >= min_confidence
                and (best is None or label.confidence > best.confidence)
            ):
                best = label
        return best

    def hubs(self, min_confidence: float = HUB_MIN_CONFIDENCE) -> set[str]:
        """Return every address with a hub label at or above ``min_confidence``."""
        return {a for a in self._by_address if self.hub_label(a, min_confidence) is not None}

    def infer_hubs(self, funder_degree: Mapping[str, int], min_degree: int) -> list[AddressLabel]:
        """Label funders of at least ``min_degree`` distinct addresses ``inferred_hub``; return the new labels.

        Addresses that already carry a hub label keep it: an analyst's or a source's word wins.
        """
        added: list[AddressLabel] = []
        for funder, degree in funder_degree.items():
            if not funder or degree < min_degree or self.hub_label(funder, 0.0) is not None:
                continue
            label = AddressLabel(
                address=funder,
                kind="inferred_hub",
                source=f"funder out-degree {degree} >= {min_degree}",
                confidence=inferred_confidence(degree, min_degree),
            )
            self.add(label)
            added.append(label)
        return added

    def labels(self) -> list[AddressLabel]:
        """Return every label."""
        return [label for labels in self._by_address.values() for label in labels]


def parse_labels_csv(text: str, *, default_source: str = "import") -> list[AddressLabel]:
    """Parse a label list: columns ``address,kind`` and optional ``source,confidence,note``."""
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower() for f in reader.fieldnames or ()}
    missing = {"address", "kind"} - fields
    if missing:
        msg = f"the label file lacks the column(s) {', '.join(sorted(missing))}"
        raise InvalidInput("digitalasset.label.bad_file", msg, field="file", reason=msg)
    out: list[AddressLabel] = []
    for n, row in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        try:
            confidence = float(row.get("confidence") or 1.0)
        except ValueError as exc:
            msg = f"line {n}: confidence {row.get('confidence')!r} is not a number"
            raise InvalidInput(
                "digitalasset.label.bad_file", msg, field="file", reason=msg
            ) from exc
        try:
            out.append(
                AddressLabel(
                    address=normalise_address(row["address"]),
                    kind=row["kind"].lower(),
                    source=row.get("source") or default_source,
                    confidence=confidence,
                    note=row.get("note", ""),
                )
            )
        except InvalidInput as exc:
            raise InvalidInput(
                "digitalasset.label.bad_file", f"line {n}: {exc.message}", field="file"
            ) from exc
    return out
