"""Chinese person / place / organisation recognition with models that ship inside PyPI packages.

Two backends, measured against each other by ``bench/pii_detect.py`` (see docs/crossborder.md):
- ``jiagu``: jiagu's perceptron NER model (``jiagu/model/ner.model``, 3.7 MB, MSRA-style
  B-/I-PER|LOC|ORG tags) over jiagu's own segmentation.
- ``jieba``: jieba's HMM part-of-speech tags nr (person), ns (place), nt (organisation).
Neither fetches anything at run time. Offsets are character offsets into the text.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator
from typing import Any, Protocol

from . import gazetteer
from .pii import Entity

_TYPES = {"PER": "PERSON", "LOC": "LOCATION", "ORG": "ORGANIZATION"}
_JIEBA = {"nr": "PERSON", "nrfg": "PERSON", "nrt": "PERSON", "ns": "LOCATION", "nt": "ORGANIZATION"}


class NerBackend(Protocol):
    """Finds names, places and organisations."""

    name: str

    def entities(self, text: str) -> Iterator[Entity]:
        """Yield entities with character offsets into ``text``."""
        ...


def _merge(
    spans: list[tuple[int, int, str]], text: str, score: float, source: str
) -> Iterator[Entity]:
    """Merge adjacent spans of the same type (an address is several place words in a row)."""
    cur: list[int | str] | None = None
    for start, end, type_ in spans:
        if cur is not None and cur[2] == type_ and cur[1] == start and type_ == "LOCATION":
            cur[1] = end
            continue
        if cur is not None:
            s, e = int(cur[0]), int(cur[1])
            yield Entity(str(cur[2]), s, e, text[s:e], score, False, source)
        cur = [start, end, type_]
    if cur is not None:
        s, e = int(cur[0]), int(cur[1])
        yield Entity(str(cur[2]), s, e, text[s:e], score, False, source)


# Organisation names end with one of these words (a rule used with the model: jiagu tags the head
# of a company name poorly). The name extends backwards over the words before the suffix until a
# particle, preposition, punctuation, conjunction, pronoun, adverb or numeral.
ORG_SUFFIXES = (
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "公司",
    "集团",
    "银行",
    "大学",
    "学院",
    "医院",
    "研究院",
    "研究所",
    "委员会",
    "协会",
    "基金会",
    "事务所",
    "中心",
)
_ORG_STOP_POS = frozenset({"u", "p", "w", "c", "r", "d", "wp"})
# Words of the identifiers' own context that the model mistakes for names or places.
_NOT_NAMES = frozenset(
    {
        "卡号",
        "账号",
        "帐号",
        "港澳",
        "手机",
        "电话",
        "邮箱",
        "护照",
        "车牌",
        "证件",
        "身份证",
        "银行卡",
        "通行证",
        "信用代码",
        "订单号",
        "号码",
    }
)
_ORG_MAX_WORDS = 5


class JiaguNer:
    """jiagu's bundled NER model, with its POS tags for surnames and an organisation-suffix rule."""

    name = "jiagu"

    def __init__(self) -> None:
        import jiagu  # lazy: crossborder extra, loads a model (seconds)

        self._jiagu = jiagu

    def _labels(self, words: list[str]) -> list[tuple[str, bool] | None]:
        tags = self._jiagu.ner(words)
        pos = self._jiagu.pos(words)
        labels: list[tuple[str, bool] | None] = [None] * len(words)
        prev: str | None = None
        for i, tag in enumerate(tags):
            kind = _TYPES.get(tag[2:]) if tag[:2] in ("B-", "I-") else None
            if kind is not None:
                labels[i] = (kind, tag.startswith("B-") or prev != kind)
            prev = kind
        for i, p in enumerate(pos):
            if p == "nh":
                labels[i] = ("PERSON", True)
            elif p == "nhf" and i + 1 < len(words) and len(words[i + 1]) <= 2 and pos[i + 1] != "w":
                labels[i] = ("PERSON", True)
                labels[i + 1] = ("PERSON", False)
            elif p == "ns" and labels[i] is None:
                labels[i] = ("LOCATION", True)
        for i, label in enumerate(labels):
            # A one-character surname tagged alone: the given name is the next short word.
            if (
                label is not None
                and label[0] == "PERSON"
                and len(words[i]) == 1
                and i + 1 < len(words)
                and labels[i + 1] is None
                and 1 <= len(words[i + 1]) <= 2
                and pos[i + 1] not in _ORG_STOP_POS
                and pos[i + 1] != "v"
            ):
                labels[i + 1] = ("PERSON", False)
        for i, w in enumerate(words):
            if w in _NOT_NAMES:
                labels[i] = None
        for i, w in enumerate(words):
            if w.endswith(ORG_SUFFIXES):
                start = i
                while (
                    start > 0 and i - start < _ORG_MAX_WORDS and pos[start - 1] not in _ORG_STOP_POS
                ):
                    start -= 1
                for k in range(start, i + 1):
                    labels[k] = ("ORGANIZATION", k == start)
        return labels

    def entities(self, text: str) -> Iterator[Entity]:
        if not text.strip():
            return
        words = self._jiagu.seg(text)
        labels = self._labels(words)
        spans: list[tuple[int, int, str]] = []
        pos = 0
        cur: list[int | str] | None = None
        for word, label in zip(words, labels, strict=True):
            start = text.find(word, pos)
            if start < 0:
                continue
            end = start + len(word)
            pos = end
            if label is not None and (label[1] or cur is None or cur[2] != label[0]):
                if cur is not None:
                    spans.append((int(cur[0]), int(cur[1]), str(cur[2])))
                cur = [start, end, label[0]]
            elif label is not None and cur is not None:
                cur[1] = end
            else:
                if cur is not None:
                    spans.append((int(cur[0]), int(cur[1]), str(cur[2])))
                cur = None
        if cur is not None:
            spans.append((int(cur[0]), int(cur[1]), str(cur[2])))
        yield from _merge(spans, text, 0.7, "jiagu")


class JiebaNer:
    """jieba part-of-speech tags as a floor for names, places and organisations."""

    name = "jieba"

    def __init__(self) -> None:
        import jieba  # lazy: crossborder extra, loads a dictionary (seconds)
        import jieba.posseg  # lazy: as above

        jieba.setLogLevel(logging.WARNING)
        self._tokenizer = jieba.posseg.POSTokenizer(jieba.Tokenizer())

    def entities(self, text: str) -> Iterator[Entity]:
        spans: list[tuple[int, int, str]] = []
        pos = 0
        for pair in self._tokenizer.cut(text):
            start = pos
            pos += len(pair.word)
            type_ = _JIEBA.get(pair.flag)
            if type_ is not None:
                spans.append((start, pos, type_))
        yield from _merge(spans, text, 0.6, "jieba")


# Words before a name (收件人：王小明) and titles after one (王小明先生).
PERSON_CUES = ("联系人", "收件人", "收货人", "寄件人", "姓名", "户名", "持卡人", "开户人", "申请人",
               "经办人", "法定代表人", "法人代表", "负责人", "患者", "客户", "投保人", "被保险人",
               "受益人")  # fmt: skip
_PER_CUE_BEFORE = re.compile(f"(?:{'|'.join(PERSON_CUES)})[：:\\s]*$")
TITLES = frozenset(
    {
        "先生",
        "女士",
        "小姐",
        "同志",
        "经理",
        "主任",
        "教授",
        "医生",
        "律师",
        "老师",
        "总监",
        "董事长",
        "总经理",
        "书记",
        "院长",
        "校长",
        "局长",
        "部长",
        "主席",
    }
)
_NOT_NAME_TAILS = ("理论", "主义", "思想")
# A surname with a title or a form of address (董医生, 吕老, 梁某): the surname alone names the person.
_ADDRESS_FORMS = TITLES | {"老", "某", "师母", "师傅", "大爷", "大妈", "阿姨", "大姐", "大哥", "总"}
_DOTS = "·•・"
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]+")
# Parts of speech that may stand inside an organisation name before its suffix word.
_ORG_BODY_POS = frozenset({"n", "ns", "ni", "nz", "nh", "nhf", "nhs", "j", "nl", "b", "ws", "nd"})
_ORG_SUFFIX_POS = frozenset({"n", "ni", "nz", "j", "nl", "ns", "b"})
_ORG_MAX_BODY = 6
# Before a registered form (有限公司…) a brand name is often cut into single characters that the
# tagger calls verbs or adjectives (精/芯, 合/联); the name stops at function words, at verbs of two
# or more characters and at these one-character verbs and prepositions.
_ORG_STOP_POS = frozenset(
    {"u", "p", "c", "r", "d", "m", "q", "w", "wp", "e", "o", "nt", "nd", "vd", "vl", "vu", "i"}
)
# Legal forms of a registered company (公司法) and the industry words of its name (行业: the
# divisions of GB/T 4754 as names use them).
_LEGAL_FORMS = ("有限公司", "有限责任公司", "股份有限公司")
_INDUSTRY_WORDS = frozenset({
    "科技", "网络", "信息", "传媒", "电子", "软件", "计算机", "技术", "贸易", "商贸", "实业", "投资",
    "咨询", "服务", "文化", "建筑", "工程", "物流", "餐饮", "广告", "教育", "医药", "生物", "能源",
    "环保", "房地产", "制造", "物业", "管理", "发展", "设计", "通信", "电器", "机械", "化工", "食品",
    "服饰", "纺织", "建材", "汽车", "农业", "旅游", "金融", "数据", "智能", "新材料",
})  # fmt: skip
_TRADE_STOP_POS = frozenset({"w", "wp", "u", "p", "c", "r", "e", "o"})
_NUMERAL = re.compile(r"[0-9０-９一二两三四五六七八九十百千万几数多每某]+(?:[家个所位名座批些]|$)")
_ONE_CHAR_VERBS = frozenset("在去到向给找做是有让请叫被把对由从往与和及为于经据将至赴回住")
# One-character words that never stand inside a name: particles, pronouns, classifiers.
_ONE_CHAR_STOP = frozenset("的了着过也都又还就才这那其该每各此本贵该家个位所座名等")
# 全市, 本县, 该省: a reference to a division, not a place name.
_NOT_PLACE = re.compile(r"[全本该我各][省市县区乡镇村州]")
# "4家银行", "两家公司": a count of things, not a name.
_COUNTED = re.compile(r"[0-9０-９一二两三四五六七八九十百几数多]+[家个所位名座]")
# Words made of a place abbreviation and one of these (美方, 以军, 美籍, 华裔, 华侨, 港胞, 京剧): the
# abbreviation is the place. Verbs of travel and stay before one (访华, 驻美, 抵京): the same.
_ABBR_AFFIXES = frozenset("方军籍裔侨胞人商资企舰剧戏外")
_TRAVEL_VERBS = frozenset("访驻抵赴旅侵援来返离留在")
# Name-likelihood rule: the least odds of each given-name character (gazetteer.given_name_odds).
_GIVEN_MIN_ODDS = 3.0
_NAME_STOP_POS = frozenset(
    {"w", "wp", "u", "p", "c", "r", "d", "q", "e", "o", "nd", "nl", "nt", "m"}
)
_SURNAME_STOP_POS = frozenset({"w", "wp", "u", "p", "c", "e", "o"})
_GIVEN_HIGH_ODDS = 10.0
# A place word that jiagu keeps whole with a following 人/人民 (中国人): the place is the entity.
_PLACE_TAILS = ("人民", "人", "籍")


class HybridNer:
    """jiagu's model plus the gazetteer and rules of ``gazetteer`` — the default backend.

    Candidates from the model (priority 1), the gazetteer (2) and the rules (3) are resolved to one
    type per character, longest first (``gazetteer.resolve``). With ``join_addresses`` (the product
    setting) adjacent places and the address units after them (road, number, building, room) form
    one LOCATION span; without it each place is its own span, as MSRA annotates them.
    """

    name = "hybrid"

    def __init__(self, join_addresses: bool = True) -> None:
        import jiagu  # lazy: crossborder extra, loads a model (seconds)

        self._jiagu = jiagu
        self._gz = gazetteer
        self.join_addresses = join_addresses
        gazetteer.places()
        gazetteer.surnames()
        gazetteer.given_name_odds()  # jieba's dictionary, read at start-up rather than on first use
        gazetteer.proper_abbreviation_lookalikes()
        gazetteer.place_before_noun("")

    def _model(
        self, words: list[str], pos: list[str], tags: list[str], offs: list[tuple[int, int]]
    ) -> list[Any]:
        """Spans from jiagu's tags and POS (the same reading as the ``jiagu`` backend, no rules)."""
        Span = self._gz.Span
        out: list[Any] = []
        cur: Any = None
        for i, tag in enumerate(tags):
            kind = _TYPES.get(tag[2:]) if tag[:2] in ("B-", "I-") else None
            if kind is not None and cur is not None and cur.type == kind and tag[:2] == "I-":
                cur.end = offs[i][1]
                continue
            cur = Span(offs[i][0], offs[i][1], kind, 1) if kind is not None else None
            if cur is not None:
                out.append(cur)
        for i, p in enumerate(pos):
            if p == "nh":
                out.append(Span(offs[i][0], offs[i][1], "PERSON", 1))
            elif (
                p == "nhf"
                and i + 1 < len(words)
                and 1 <= len(words[i + 1]) <= 2
                and pos[i + 1] != "w"
            ):
                out.append(Span(offs[i][0], offs[i + 1][1], "PERSON", 1))
            elif p == "ns":
                out.append(Span(offs[i][0], offs[i][1], "LOCATION", 1))
        by_start = {a: i for i, (a, _) in enumerate(offs)}
        for (
            s
        ) in out:  # an organisation never begins with a conjunction or preposition (和科技有限公司)
            j = by_start.get(s.start)
            while (
                s.type == "ORGANIZATION"
                and j is not None
                and j + 1 < len(words)
                and offs[j][1] < s.end
                and pos[j] in ("c", "p", "u")
            ):
                s.start, j = offs[j + 1][0], j + 1
        for s in out:  # a one-character surname tagged alone: the given name is the next short word
            j = by_start.get(s.start)
            if (
                s.type == "PERSON"
                and s.end - s.start == 1
                and j is not None
                and j + 1 < len(words)
                and 1 <= len(words[j + 1]) <= 2
                and _is_han(words[j + 1][0])
                and pos[j + 1] not in _ORG_STOP_POS
                and pos[j + 1] != "v"
            ):
                s.end = offs[j + 1][1]
        return [s for s in out if s.type and not _is_context_word(words, offs, s)]

    def _rules(
        self,
        text: str,
        words: list[str],
        pos: list[str],
        tags: list[str],
        offs: list[tuple[int, int]],
        spans: list[Any],
    ) -> list[Any]:
        gz, Span = self._gz, self._gz.Span
        starts = {a for a, _ in offs}
        ends = {b for _, b in offs}
        word_at = {a: i for i, (a, _) in enumerate(offs)}
        out: list[Any] = []
        places: list[Any] = []
        # Gazetteer places. A full division name needs a word start; a short or country name also
        # a word end (or a 人/人民 tail inside jiagu's word: 中国人 -> 中国).
        for a, b, place in gz.iter_places(text):
            if a not in starts and a > 0 and _is_han(text[a - 1]):
                continue
            if place.kind != "admin" and b not in ends:
                i = word_at.get(a)
                if i is None or text[b : offs[i][1]] not in _PLACE_TAILS:
                    continue
            places.append(Span(a, b, "LOCATION", 2))
        out += places
        # Address units after a place (split mode: each village/road/estate is a place of its own).
        if not self.join_addresses:
            for s in places + [s for s in spans if s.type == "LOCATION"]:
                for a, b, kind in gz.address_parts(text, s.end):
                    if kind != "num":
                        out.append(Span(a, b, "LOCATION", 3))
        # Organisations: a suffix word and the proper-noun words before it.
        for i, w in enumerate(words):
            if any(c.isdigit() for c in w):
                continue  # 27号院 is an address unit
            strong = w.endswith(gz.ORG_STRONG)
            if not strong and not (
                w.endswith(gz.ORG_WEAK) and len(w) <= 3 and pos[i] in _ORG_SUFFIX_POS
            ):
                continue  # a weak ending must be a noun (举行, 创办 are verbs)
            start = i
            while (
                start > 0
                and i - start < _ORG_MAX_BODY
                and (
                    _org_body(words[start - 1], pos[start - 1], strong)
                    or (
                        strong
                        and tags[start - 1][2:] == "ORG"  # the model's own reading,
                        and pos[start - 1] not in _TRADE_STOP_POS
                    )
                )
            ):  # never over 和, 的, 在
                if start == i and pos[start - 1] == "a":
                    break  # 大公司, 大银行: a description, not a name
                start -= 1
            if w.endswith(_LEGAL_FORMS):
                # A registered name is 行政区划 + 字号 + 行业 + 组织形式 (企业名称登记管理规定 art. 6):
                # the trade name before the industry words has two characters or more, so when the
                # words gathered leave fewer, the words before them (no punctuation or function
                # word) are the trade name: 投诉时刻科技有限公司 -> 时刻科技有限公司.
                k = i
                while k > start and words[k - 1] in _INDUSTRY_WORDS:
                    k -= 1
                taken = 0
                while (
                    k < i
                    and offs[k][0] - offs[start][0] < 2
                    and start > 0
                    and taken < 2
                    and pos[start - 1] not in _TRADE_STOP_POS
                    and _is_han(words[start - 1][0])
                ):
                    start -= 1
                    taken += 1
            suffix_len = max(
                (len(x) for x in (gz.ORG_STRONG if strong else gz.ORG_WEAK) if w.endswith(x)),
                default=0,
            )
            if start == i and len(w) - suffix_len < 2:
                continue  # a bare 公司 / 医院 is no name
            head = offs[start][0]
            if (
                not strong
                and not any(p.start == head for p in places)
                and pos[start] not in ("ns", "nh")
            ):
                continue  # a weak suffix needs a place or a person at the head
            if not strong and any(
                p.start == head
                and (parts := gz.address_parts(text, p.end))
                and parts[0][1] > offs[i][1]
                for p in places
            ):
                continue  # 河南省军县…: the suffix character begins an address unit
            out.append(Span(head, offs[i][1], "ORGANIZATION", 3))
        # Persons: a name with a cue before it (收件人：) or a title after it (王小明先生).
        for i, w in enumerate(words):
            cue = _PER_CUE_BEFORE.search(text, 0, offs[i][0]) is not None and offs[i][0] > 0
            title = i + 1 < len(words) and words[i + 1] in TITLES
            if not (cue or title):
                continue
            name_end = offs[i][1]
            run = _HAN_RUN.match(text, offs[i][0])
            if cue and not title and run is not None and run.end() - run.start() <= 4:
                name_end = run.end()  # 收件人：欧阳晓琳，— the name runs to the punctuation
            elif len(w) == 1 and i + 1 < len(words) and not title and 1 <= len(words[i + 1]) <= 2:
                name_end = offs[i + 1][1]
            if gz.starts_with_surname(text[offs[i][0] : name_end]):
                out.append(Span(offs[i][0], name_end, "PERSON", 3))
        # Persons without a cue: a surname that stands as a word of its own, then one or two short
        # words whose characters are given-name characters by jieba's name statistics.
        sur = gz.surnames()
        for i, w in enumerate(words):
            if (
                i + 1 >= len(words)
                or len(w) != 1
                or w not in sur
                or pos[i] in _SURNAME_STOP_POS
                or w in _ONE_CHAR_STOP
            ):
                continue
            # A surname the tagger reads as an adverb, pronoun or time word (曾, 何, 周) needs a
            # given name of higher odds.
            least = _GIVEN_MIN_ODDS if pos[i] not in _NAME_STOP_POS else _GIVEN_HIGH_ODDS
            nxt, end = words[i + 1], offs[i + 1][1]
            if not (
                1 <= len(nxt) <= 2
                and all(_is_han(c) for c in nxt)
                and pos[i + 1] not in _NAME_STOP_POS
            ):
                continue
            if (
                len(nxt) == 1
                and i + 2 < len(words)
                and len(words[i + 2]) == 1
                and _is_han(words[i + 2])
                and pos[i + 2] not in _NAME_STOP_POS
                and gz.given_name_score(words[i + 2]) >= least
            ):
                nxt, end = nxt + words[i + 2], offs[i + 2][1]
            if gz.given_name_score(nxt) >= least and not gz.is_common_word(w + nxt):
                out.append(Span(offs[i][0], end, "PERSON", 2))
        # Foreign names written with a middle dot (杰伊·约翰逊) are one person.
        pers = sorted((s for s in spans if s.type == "PERSON"), key=lambda s: s.start)
        for x, y in itertools.pairwise(pers):
            if y.start == x.end + 1 and text[x.end] in _DOTS:
                out.append(Span(x.start, y.end, "PERSON", 3))
        return out

    def entities(self, text: str) -> Iterator[Entity]:
        if not text.strip():
            return
        words = self._jiagu.seg(text)
        offs: list[tuple[int, int]] = []
        at = 0
        kept: list[str] = []
        for w in words:
            a = text.find(w, at)
            if a < 0:
                continue
            offs.append((a, a + len(w)))
            kept.append(w)
            at = a + len(w)
        if not kept:
            return
        pos = self._jiagu.pos(kept)
        tags = self._jiagu.ner(kept)
        spans = self._model(kept, pos, tags, offs)
        places = self._gz.places()
        ethnic = self._gz.ethnic_groups()
        for s in spans:  # the model's persons that are really places or doctrines
            t = text[s.start : s.end]
            if s.type == "PERSON" and t in places:
                s.type = "LOCATION"
            elif s.type == "PERSON" and any(
                p.kind == "admin" for _, _, p in self._gz.iter_places(t)
            ):
                s.type = ""  # 平潭县律师: a name never holds a county's full name
            elif s.type == "PERSON" and self._gz.is_common_word(t):
                s.type = ""  # 纪委, 欧元, 许多: a dictionary word that is no name
            elif (
                s.type == "PERSON"
                and len(t) >= 2
                and t[0] in self._gz.surnames()
                and t[1:] in _ADDRESS_FORMS
            ):
                s.end = s.start + 1  # 董医生, 吕老, 梁某: the surname is the name
            elif s.type == "PERSON" and t.endswith(_NOT_NAME_TAILS) and s.end - s.start > 3:
                s.end -= 2
            elif (
                (s.type == "LOCATION" and (_NOT_PLACE.fullmatch(t) or t in ethnic))
                or _COUNTED.match(t)
                or (s.type == "ORGANIZATION" and (len(t) == 1 or self._is_address(text, s)))
            ):
                s.type = ""
            elif s.type == "LOCATION" and t.endswith(_PLACE_TAILS):
                for tail in _PLACE_TAILS:  # 中国人 -> 中国, when the rest is a known place
                    if t.endswith(tail) and t[: -len(tail)] in places:
                        s.end -= len(tail)
                        break
        spans = [s for s in spans if s.type] + self._abbreviations(text, kept, offs, spans)
        spans = [s for s in spans if s.type]
        extra = self._rules(text, kept, pos, tags, offs, spans)
        if not self.join_addresses:  # a model place that our places tile exactly is split up
            spans = [s for s in spans if s.type != "LOCATION" or not _tiled(s, extra)]
        chosen = self._gz.resolve(spans + extra)
        if self.join_addresses:
            chosen = self._join(text, chosen)
        for s in chosen:
            yield Entity(
                s.type,
                s.start,
                s.end,
                text[s.start : s.end],
                0.7 + 0.05 * s.priority,
                False,
                "hybrid",
            )

    def _is_address(self, text: str, span: Any) -> bool:
        """A model organisation that is a place and address units (湖北省佛山县闵行) with no org word."""
        t = text[span.start : span.end]
        if t.endswith(self._gz.ORG_STRONG):
            return False
        for a, b, _ in self._gz.iter_places(t):
            return a == 0 and (b == len(t) or bool(self._gz.address_parts(text, span.start + b)))
        return False

    def _abbreviations(
        self, text: str, words: list[str], offs: list[tuple[int, int]], spans: list[Any]
    ) -> list[Any]:
        """Places written by their one-character abbreviations: each character is a place.

        A model place made only of abbreviations (中美, 中日韩, 京津冀) splits into one place per
        character; a model place abbreviation + affix (美方, 华侨) shrinks to the abbreviation; a
        travel verb + abbreviation word (访华, 驻美) gives the abbreviation. The pieces get priority 4
        and are never joined into an address.
        """
        Span, abbr, places = self._gz.Span, self._gz.abbreviations(), self._gz.places()
        proper = self._gz.proper_abbreviation_lookalikes()
        out: list[Any] = []
        for s in spans:
            if s.type == "LOCATION" and (k := self._gz.place_before_noun(text[s.start : s.end])):
                s.end = s.start + k  # 中国政府, 黄河流域, 港澳同胞: the place is the entity
            t = text[s.start : s.end]
            if s.type != "LOCATION" or t in places or t in proper:
                continue
            if 2 <= len(t) <= 3 and all(c in abbr for c in t):
                out += [Span(k, k + 1, "LOCATION", 4) for k in range(s.start, s.end)]
                s.type = ""
            elif len(t) == 2 and t[0] in abbr and t[1] in _ABBR_AFFIXES:
                out.append(Span(s.start, s.start + 1, "LOCATION", 4))
                s.type = ""
        for w, (a, b) in zip(words, offs, strict=True):
            if len(w) == 2 and w[0] in _TRAVEL_VERBS and w[1] in abbr:
                out.append(Span(a + 1, b, "LOCATION", 4))
        return out

    def _join(self, text: str, chosen: list[Any]) -> list[Any]:
        """Adjacent places plus the address units after them become one LOCATION."""
        out: list[Any] = []
        for s in chosen:
            if out and out[-1].type == "LOCATION" and s.start < out[-1].end:
                continue  # swallowed by the address before it
            if (
                s.type == "LOCATION"
                and out
                and out[-1].type == "LOCATION"
                and out[-1].end == s.start
                and 4 not in (s.priority, out[-1].priority)
            ):
                out[-1].end = s.end
            else:
                out.append(s)
            if s.type == "LOCATION" and s.priority != 4:
                last = out[-1]
                parts = self._gz.address_parts(text, last.end)
                if parts:
                    last.end = parts[-1][1]
                    last.priority = 3
        return out


def _org_body(word: str, pos: str, strong: bool) -> bool:
    """May ``word`` stand inside an organisation name before its suffix word?"""
    if word in _NOT_NAMES or not word.strip():
        return False
    if not strong:
        return pos in _ORG_BODY_POS
    if word in _ONE_CHAR_VERBS or word in _ONE_CHAR_STOP or (not _is_han(word[0]) and pos == "w"):
        return False
    if word.isascii() and word.isalnum():  # MBP软件, 数字100: letters and digits inside a brand
        return True
    if len(word) == 1:  # a brand cut into characters (精/芯, 恒/聪/百/汇): any other character
        return pos not in ("w", "wp")
    return pos not in _ORG_STOP_POS and pos != "v" and not _NUMERAL.match(word)


def _tiled(span: Any, pieces: list[Any]) -> bool:
    """True when two or more LOCATION pieces cover ``span`` end to end."""
    at, n = span.start, 0
    by_start = {p.start: p.end for p in pieces if p.type == "LOCATION" and span.start <= p.start}
    while at in by_start and by_start[at] <= span.end:
        at, n = by_start[at], n + 1
    return at == span.end and n >= 2


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def _is_context_word(words: list[str], offs: list[tuple[int, int]], span: Any) -> bool:
    """The identifiers' own context words (卡号, 港澳…) are never names or places."""
    return any(
        w in _NOT_NAMES
        for w, (a, b) in zip(words, offs, strict=True)
        if a >= span.start and b <= span.end
    )


BACKENDS = ("hybrid", "jiagu", "jieba")
DEFAULT_BACKEND = "hybrid"  # the best macro F1 in bench/pii_detect.py (docs/crossborder.md)


def make_ner(name: str = DEFAULT_BACKEND) -> NerBackend:
    """Return a NER backend by name ('hybrid', 'jiagu' or 'jieba')."""
    if name == "hybrid":
        return HybridNer()
    if name == "jiagu":
        return JiaguNer()
    if name == "jieba":
        return JiebaNer()
    raise ValueError(f"unknown NER backend {name!r}; one of {', '.join(BACKENDS)}")
