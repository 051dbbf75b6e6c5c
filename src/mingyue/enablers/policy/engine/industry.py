"""Industry codes (GB/T 4754-2017) and enterprise size classes (统计上大中小微型企业划分办法(2017)).

Pure reference data and two functions: ``parse_industry`` reads a code as enterprises write it
(``I6513``, ``6513``, ``I65``, ``C``) and ``size_class`` applies 国家统计局 国统字〔2017〕213号:
"大型、中型和小型企业须同时满足所列指标的下限，否则下划一档；微型企业只须满足所列指标中的一项即可"
— so a firm is tested against the large, medium and small lower bounds in turn and is micro when
it meets none. Figures: X headcount (从业人员, persons), Y operating revenue (营业收入, 10,000 yuan),
Z total assets (资产总额, 10,000 yuan).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

# 门类 (section) -> (first division, last division, zh, en), GB/T 4754-2017 Table 1.
SECTIONS: dict[str, tuple[int, int, str, str]] = {
    "A": (1, 5, "农、林、牧、渔业", "Agriculture, forestry, animal husbandry and fishery"),
    "B": (6, 12, "采矿业", "Mining"),
    "C": (13, 43, "制造业", "Manufacturing"),
    "D": (44, 46, "电力、热力、燃气及水生产和供应业", "Electricity, heat, gas and water supply"),
    "E": (47, 50, "建筑业", "Construction"),
    "F": (51, 52, "批发和零售业", "Wholesale and retail trade"),
    "G": (53, 60, "交通运输、仓储和邮政业", "Transport, storage and post"),
    "H": (61, 62, "住宿和餐饮业", "Accommodation and catering"),
    "I": (
        63,
        65,
        "信息传输、软件和信息技术服务业",
        "Information transmission, software and IT services",
    ),
    "J": (66, 69, "金融业", "Finance"),
    "K": (70, 70, "房地产业", "Real estate"),
    "L": (71, 72, "租赁和商务服务业", "Leasing and business services"),
    "M": (73, 75, "科学研究和技术服务业", "Scientific research and technical services"),
    "N": (
        76,
        79,
        "水利、环境和公共设施管理业",
        "Water, environment and public facilities management",
    ),
    "O": (80, 82, "居民服务、修理和其他服务业", "Resident services, repair and other services"),
    "P": (83, 83, "教育", "Education"),
    "Q": (84, 85, "卫生和社会工作", "Health and social work"),
    "R": (86, 90, "文化、体育和娱乐业", "Culture, sports and entertainment"),
    "S": (
        91,
        96,
        "公共管理、社会保障和社会组织",
        "Public administration, social security and organisations",
    ),
    "T": (97, 97, "国际组织", "International organisations"),
}

SIZE_CLASSES = ("large", "medium", "small", "micro")
SME_CLASSES = frozenset({"medium", "small", "micro"})

_CODE = re.compile(r"^(?P<section>[A-Ta-t])?(?P<digits>\d{2,4})?$")


@dataclass(frozen=True)
class Industry:
    """A parsed industry code: its section letter and its digits (division, group, class)."""

    section: str
    digits: str  # "" for a bare section, else 2 to 4 digits

    @property
    def code(self) -> str:
        """Return the canonical form: section letter then digits (``I6513``)."""
        return self.section + self.digits

    @property
    def division(self) -> int | None:
        """Return the two-digit division (大类), or None for a bare section."""
        return int(self.digits[:2]) if self.digits else None

    def under(self, prefix: str) -> bool:
        """Tell whether this code lies under ``prefix`` (a section letter or leading digits)."""
        p = prefix.strip().upper()
        if p.isalpha():
            return self.section == p
        if p[:1].isalpha():
            return self.section == p[0] and self.digits.startswith(p[1:])
        return self.digits.startswith(p)


def section_of_division(division: int) -> str | None:
    """Return the section letter a two-digit division belongs to (None outside 01-97)."""
    for letter, (lo, hi, _zh, _en) in SECTIONS.items():
        if lo <= division <= hi:
            return letter
    return None


def parse_industry(value: str) -> Industry:
    """Read a GB/T 4754-2017 code; ValueError naming what is wrong.

    The digits must fall in the section's divisions when both are given (``I65`` yes, ``I13``
    no); a code of digits alone gets its section from the division.
    """
    text = (value or "").strip().upper().replace(" ", "")
    m = _CODE.match(text)
    if not text or m is None or len(text) > 5:
        raise ValueError(
            f"not a GB/T 4754-2017 code: {value!r} (a section letter A-T and/or 2-4 digits)"
        )
    letter, digits = m.group("section"), m.group("digits") or ""
    if letter is None and not digits:
        raise ValueError(f"not a GB/T 4754-2017 code: {value!r}")
    if digits:
        found = section_of_division(int(digits[:2]))
        if found is None:
            raise ValueError(f"division {digits[:2]} is not in GB/T 4754-2017")
        if letter is not None and letter != found:
            raise ValueError(f"division {digits[:2]} belongs to section {found}, not {letter}")
        letter = found
    return Industry(section=letter or "", digits=digits)


# (group, test) rows of 国统字〔2017〕213号 附表; each bound is (X, Y, Z) lower bounds, None = not used.
_Bounds = tuple[int | None, int | None, int | None]
_TABLE: dict[str, tuple[_Bounds, _Bounds, _Bounds]] = {
    "agriculture": ((None, 20000, None), (None, 500, None), (None, 50, None)),
    "industry": ((1000, 40000, None), (300, 2000, None), (20, 300, None)),
    "construction": ((None, 80000, 80000), (None, 6000, 5000), (None, 300, 300)),
    "wholesale": ((200, 40000, None), (20, 5000, None), (5, 1000, None)),
    "retail": ((300, 20000, None), (50, 500, None), (10, 100, None)),
    "transport": ((1000, 30000, None), (300, 3000, None), (20, 200, None)),
    "storage": ((200, 30000, None), (100, 1000, None), (20, 100, None)),
    "post": ((1000, 30000, None), (300, 2000, None), (20, 100, None)),
    "accommodation_catering": ((300, 10000, None), (100, 2000, None), (10, 100, None)),
    "telecom": ((2000, 100000, None), (100, 1000, None), (10, 100, None)),
    "software": ((300, 10000, None), (100, 1000, None), (10, 50, None)),
    "real_estate_development": ((None, 200000, 10000), (None, 1000, 5000), (None, 100, 2000)),
    "property_management": ((1000, 5000, None), (300, 1000, None), (100, 500, None)),
    "leasing_business": ((300, None, 120000), (100, None, 8000), (10, None, 100)),
    "other": ((300, None, None), (100, None, None), (10, None, None)),
}


def size_group(industry: Industry) -> str:
    """Return the row of the 2017 table an industry falls under (``other`` if unlisted)."""
    s, div = industry.section, industry.division
    if s == "A":
        return "agriculture"
    if s in ("B", "C", "D"):
        return "industry"
    if s == "E":
        return "construction"
    if s == "F" and div is not None:
        return "wholesale" if div == 51 else "retail"
    if s == "G" and div is not None:
        if 54 <= div <= 58:  # 交通运输业 excludes 铁路运输业 (53)
            return "transport"
        return {59: "storage", 60: "post"}.get(div, "other")
    if s == "H":
        return "accommodation_catering"
    if s == "I" and div is not None:
        return "software" if div == 65 else "telecom"
    if s == "K" and industry.digits[:3] in ("701", "702"):
        return "real_estate_development" if industry.digits[:3] == "701" else "property_management"
    if s == "L":
        return "leasing_business"
    return "other"


def size_class(
    industry: Industry,
    *,
    headcount: int | None,
    revenue: Decimal | None,
    assets: Decimal | None = None,
) -> str | None:
    """Return large / medium / small / micro per the 2017 rules, or None when a figure is missing.

    Revenue and assets are in 10,000 yuan (万元), as the table states them.
    """
    bounds = _TABLE[size_group(industry)]
    figures = (headcount, revenue, assets)
    used = [i for i, b in enumerate(bounds[2]) if b is not None]
    if any(figures[i] is None for i in used):
        # Micro needs only one figure under the small bound; the others cannot change that.
        below = any(
            figures[i] is not None and figures[i] < bounds[2][i]  # type: ignore[operator]
            for i in used
        )
        return "micro" if below else None
    for name, need in zip(("large", "medium", "small"), bounds, strict=True):
        if all(b is None or (f is not None and f >= b) for b, f in zip(need, figures, strict=True)):
            return name
    return "micro"
