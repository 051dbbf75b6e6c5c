"""Instruments and citations: "<short name> Art. N(k)" and the Chinese form "<short name>第N条第k款"."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"

_DIGITS = "零一二三四五六七八九"


def zh_number(n: int) -> str:
    """Write 1-999 in Chinese numerals as statutes number their articles (第三十三条)."""
    if not 0 < n < 1000:
        raise ValueError(f"cannot write {n} as an article number")
    hundreds, rest = divmod(n, 100)
    tens, ones = divmod(rest, 10)
    out = ""
    if hundreds:
        out += _DIGITS[hundreds] + "百"
        if rest and tens == 0:
            return out + "零" + _DIGITS[ones]
    if tens:
        out += ("" if tens == 1 and not hundreds else _DIGITS[tens]) + "十"
    if ones:
        out += _DIGITS[ones]
    return out


@dataclass(frozen=True)
class Instrument:
    """A law, regulation, guidance document or published list that decisions cite."""

    key: str
    cite: str
    title_zh: str
    title_en: str
    issued_by: str
    effective: str
    guidance: bool = False
    local: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping."""
        return {
            "key": self.key,
            "cite": self.cite,
            "title_zh": self.title_zh,
            "title_en": self.title_en,
            "issued_by": self.issued_by,
            "effective": self.effective,
            "guidance": self.guidance,
            "local": self.local,
        }


@dataclass(frozen=True)
class Ref:
    """A pinpoint reference: instrument, and optionally article, paragraph (款) and item (项)."""

    instrument: str
    article: int | None = None
    paragraph: int | None = None
    item: int | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], where: str) -> Ref:
        """Read a reference from the rule tables; raise ValueError naming ``where``."""
        unknown = set(raw) - {"instrument", "article", "paragraph", "item"}
        if unknown or "instrument" not in raw:
            raise ValueError(f"{where}: bad reference {dict(raw)}")
        nums: dict[str, int | None] = {}
        for name in ("article", "paragraph", "item"):
            value = raw.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{where}: {name} must be an integer: {dict(raw)}")
            nums[name] = value
        if nums["article"] is None and (nums["paragraph"] or nums["item"]):
            raise ValueError(f"{where}: paragraph or item without article: {dict(raw)}")
        return cls(str(raw["instrument"]), nums["article"], nums["paragraph"], nums["item"])


def cite_en(inst: Instrument, ref: Ref) -> str:
    """Format a reference as '行政处罚法 Art. 33(1)' (item only: 'Art. 32(1)'; both: '(1)(2)')."""
    if ref.article is None:
        return inst.cite
    text = f"{inst.cite} Art. {ref.article}"
    for part in (ref.paragraph, ref.item):
        if part is not None:
            text += f"({part})"
    return text


def cite_zh(inst: Instrument, ref: Ref) -> str:
    """Format a reference as '行政处罚法第三十三条第一款' (item: '第一项')."""
    if ref.article is None:
        return inst.cite
    text = f"{inst.cite}第{zh_number(ref.article)}条"
    if ref.paragraph is not None:
        text += f"第{zh_number(ref.paragraph)}款"
    if ref.item is not None:
        text += f"第{zh_number(ref.item)}项"
    return text


@lru_cache(maxsize=4)
def load_instruments(rules_dir: Path = RULES_DIR) -> dict[str, Instrument]:
    """Load ``rules/instruments.yaml`` (cached: an immutable data file)."""
    doc = yaml.safe_load((rules_dir / "instruments.yaml").read_text(encoding="utf-8"))
    out: dict[str, Instrument] = {}
    for key, raw in doc["instruments"].items():
        for name in ("cite", "title_zh", "title_en", "issued_by", "effective"):
            if name not in raw:
                raise ValueError(f"instrument {key} without {name}")
        out[key] = Instrument(
            key=key,
            cite=str(raw["cite"]),
            title_zh=str(raw["title_zh"]),
            title_en=str(raw["title_en"]),
            issued_by=str(raw["issued_by"]),
            effective=str(raw["effective"]),
            guidance=bool(raw.get("guidance", False)),
            local=bool(raw.get("local", False)),
        )
    return out
