"""Tests of the hybrid NER: gazetteer, address and organisation rules, overlap resolution, scan path.

Sentences are written for these tests (none is taken from the bench corpora).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mingyue.enablers.crossborder.engine import gazetteer as gz
from mingyue.enablers.crossborder.engine.ner import DEFAULT_BACKEND, HybridNer, make_ner
from mingyue.enablers.crossborder.engine.pii import PiiDetector
from mingyue.enablers.crossborder.engine.scan import ScanResult, scan_chunks, scan_file

NER_TYPES = {"PERSON", "LOCATION", "ORGANIZATION"}


@pytest.fixture(scope="module")
def hybrid() -> HybridNer:
    return HybridNer()


def found(ner: HybridNer, text: str) -> list[tuple[str, str]]:
    ents = list(ner.entities(text))
    for e in ents:
        assert text[e.start : e.end] == e.text
    return [(e.type, e.text) for e in ents]


# --- reference data -------------------------------------------------------------------------------


def test_gazetteer_reads_the_division_table_and_country_names() -> None:
    places = gz.places()
    assert places["海淀区"].kind == "admin" and places["北京市"].kind == "admin"
    assert places["广东"].kind == "short"  # 广东省 -> 广东
    assert places["日本"].kind == "country"  # phonenumbers' "*ja" reference resolved
    assert places["克罗地亚"].kind == "country"
    assert "市辖区" not in places and "省直辖县级行政区划" not in places
    assert len([p for p in places.values() if p.kind == "admin"]) > 3000
    assert "汉族" in gz.ethnic_groups() and len(gz.ethnic_groups()) == 56


@pytest.mark.parametrize(("full", "short"), [
    ("广西壮族自治区", "广西"), ("延边朝鲜族自治州", "延边"), ("黔东南苗族侗族自治州", "黔东南"),
    ("香港特别行政区", "香港"),
    ("黑龙江省", "黑龙江"), ("大兴安岭地区", "大兴安岭"), ("锡林郭勒盟", "锡林郭勒"), ("北京市", "北京"),
    ("忠县", None), ("南市", None),
])  # fmt: skip
def test_short_place_names(full: str, short: str | None) -> None:
    assert gz.short_place_name(full) == short


def test_places_are_matched_leftmost_longest() -> None:
    text = "内蒙古自治区呼和浩特市新城区"
    assert [(text[a:b], p.kind) for a, b, p in gz.iter_places(text)] == [
        ("内蒙古自治区", "admin"),
        ("呼和浩特市", "admin"),
        ("新城区", "admin"),
    ]


def test_surnames_come_from_jiebas_person_names() -> None:
    assert {"王", "李", "张", "欧"} <= gz.surnames()
    assert gz.starts_with_surname("欧阳修") and gz.starts_with_surname("王小明")
    assert not gz.starts_with_surname("欧阳")  # a compound surname needs a given name
    assert not gz.starts_with_surname("的确")
    assert not gz.starts_with_surname("王A")


# --- address grammar -----------------------------------------------------------------------------


def test_address_units_after_a_place() -> None:
    text = "北京市海淀区中关村大街27号院3号楼2单元501室，电话"
    parts = gz.address_parts(text, len("北京市海淀区"))
    assert [text[a:b] for a, b, _ in parts] == ["中关村大街", "27号院", "3号楼", "2单元", "501室"]
    assert [k for _, _, k in parts] == ["road", "num", "num", "num", "num"]
    village = "山西省平遥县段村镇东大街"
    assert [village[a:b] for a, b, _ in gz.address_parts(village, 6)] == ["段村镇", "东大街"]


@pytest.mark.parametrize("text", ["上海的农村", "上海地区的天气", "上海和北京"])
def test_no_address_units_across_function_words_or_a_lone_district(text: str) -> None:
    assert gz.address_parts(text, 2) == []


# --- overlap resolution --------------------------------------------------------------------------


def test_resolve_keeps_the_longest_then_the_higher_priority() -> None:
    S = gz.Span
    out = gz.resolve(
        [
            S(0, 3, "LOCATION", 2),
            S(0, 8, "ORGANIZATION", 3),
            S(8, 10, "PERSON", 1),
            S(8, 10, "LOCATION", 2),
            S(9, 12, "PERSON", 1),
            S(12, 12, "PERSON", 3),
        ]
    )
    assert [(s.start, s.end, s.type) for s in out] == [(0, 8, "ORGANIZATION"), (9, 12, "PERSON")]
    same = gz.resolve([S(0, 2, "PERSON", 1), S(0, 2, "LOCATION", 2)])
    assert [(s.type, s.priority) for s in same] == [("LOCATION", 2)]


# --- the hybrid backend on written sentences ---------------------------------------------------


def test_an_address_is_one_location_and_a_cued_name_runs_to_the_comma(hybrid: HybridNer) -> None:
    text = "请把发票寄给收件人：欧阳晓琳，地址：浙江省杭州市西湖区文三路90号2号楼501室。"
    assert found(hybrid, text) == [
        ("PERSON", "欧阳晓琳"),
        ("LOCATION", "浙江省杭州市西湖区文三路90号2号楼501室"),
    ]


def test_split_mode_gives_each_division_its_own_span() -> None:
    text = "内蒙古自治区呼和浩特市新城区的居民"
    assert found(HybridNer(join_addresses=False), text) == [
        ("LOCATION", "内蒙古自治区"),
        ("LOCATION", "呼和浩特市"),
        ("LOCATION", "新城区"),
    ]


def test_organisation_with_its_place_head_beats_the_place(hybrid: HybridNer) -> None:
    text = "她在深圳市腾讯计算机系统有限公司上班，经理是李建国先生。"
    assert found(hybrid, text) == [
        ("ORGANIZATION", "深圳市腾讯计算机系统有限公司"),
        ("PERSON", "李建国"),
    ]


@pytest.mark.parametrize("text", [
    "他想进一家大公司工作。",  # a description, not a name
    "全市都知道这件事。",  # a reference to a division, not a place
    "我们下午去医院看望病人。",  # a bare suffix word
])  # fmt: skip
def test_no_entity_in_generic_phrases(hybrid: HybridNer, text: str) -> None:
    assert found(hybrid, text) == []


def test_an_ethnic_group_is_not_a_place(hybrid: HybridNer) -> None:
    assert ("LOCATION", "汉族") not in found(hybrid, "申请人张伟，汉族，1980年生。")


def test_a_name_with_a_middle_dot_is_one_person(hybrid: HybridNer) -> None:
    assert ("PERSON", "约翰·史密斯") in found(hybrid, "约翰·史密斯昨天访问了上海交通大学。")


def test_abbreviations_are_province_short_names_and_country_first_characters() -> None:
    abbr = gz.abbreviations()
    assert {"京", "沪", "冀", "蜀", "港", "华", "美", "俄", "日", "欧"} <= abbr
    assert not {"东", "南", "西", "北"} & abbr  # directions (西欧, 华南) are never an abbreviation
    assert "留" not in abbr  # 留尼汪岛 is an island territory: it lends no character
    lookalikes = gz.proper_abbreviation_lookalikes()
    assert {"巴黎", "中华"} <= lookalikes
    assert not {"中美", "京沪", "港澳"} & lookalikes


@pytest.mark.parametrize(("text", "places"), [
    ("中俄两国元首昨天举行会谈。", ["中", "俄"]),  # a compound splits into one place per character
    ("京津冀三地签署协议。", ["京", "津", "冀"]),
    ("华侨代表和日方官员在巴黎见面。", ["华", "日", "巴黎"]),  # abbreviation + affix; 巴黎 stays whole
    ("代表团今天抵京访问。", ["京"]),  # a travel verb + abbreviation
])  # fmt: skip
def test_places_written_by_their_abbreviations(
    hybrid: HybridNer, text: str, places: list[str]
) -> None:
    assert [t for k, t in found(hybrid, text) if k == "LOCATION"] == places


def test_given_name_odds_come_from_jiebas_person_names() -> None:
    assert gz.given_name_score("萍") > 3 and gz.given_name_score("涛") > 3
    assert gz.given_name_score("的") < 1 and gz.given_name_score("说") < 1
    assert gz.given_name_score("萍的") < 1  # the least odds of the characters
    assert gz.is_common_word("许多") and not gz.is_common_word("柯萍")


@pytest.mark.parametrize(("text", "persons"), [
    ("昨天钟涛和高娟去了超市。", ["钟涛", "高娟"]),  # surname word + given-name characters, no cue
    ("请把文件交给柯萍，她在楼上。", ["柯萍"]),
    ("许多人来到广场。", []),  # a dictionary word that begins with a surname
    ("签收的是曾倩。", ["曾倩"]),  # 曾 read as an adverb: a given name of high odds still makes a name
    ("他曾经去过那里，何时回来还不知道。", []),  # 曾经, 何时: no name
])  # fmt: skip
def test_names_without_a_cue_by_given_name_odds(
    hybrid: HybridNer, text: str, persons: list[str]
) -> None:
    assert [t for k, t in found(hybrid, text) if k == "PERSON"] == persons


@pytest.mark.parametrize(("text", "expected"), [
    ("据董医生介绍，病人已经出院。", [("PERSON", "董")]),  # surname + title: the surname names him
    ("吕老今年九十岁了。", [("PERSON", "吕")]),
    ("许多欧元区国家反对。", []),  # dictionary words the model may read as names
    ("中国政府发表声明。", [("LOCATION", "中国")]),  # place + common noun: the place
    ("北京市政府召开会议。", [("LOCATION", "北京市")]),
])  # fmt: skip
def test_model_names_and_places_are_checked_against_the_dictionary(
    hybrid: HybridNer, text: str, expected: list[tuple[str, str]]
) -> None:
    assert found(hybrid, text) == expected


def test_place_before_noun_reads_the_dictionary() -> None:
    assert gz.place_before_noun("中国政府") == 2
    assert gz.place_before_noun("川渝地区") == 2  # a compound of abbreviations is a place head
    assert gz.place_before_noun("北京市") == 0  # a place itself
    assert gz.place_before_noun("研究政府") == 0  # no place at the head


def test_a_place_followed_by_address_units_is_no_organisation(hybrid: HybridNer) -> None:
    assert found(hybrid, "快递寄到了河南省军县城关镇。") == [("LOCATION", "河南省军县城关镇")]
    assert found(hybrid, "河南省公安厅发布通知。") == [("ORGANIZATION", "河南省公安厅")]


@pytest.mark.parametrize("name", ["ABC软件有限公司", "数字天空科技有限公司"])
def test_letters_and_numeral_words_inside_a_registered_name(hybrid: HybridNer, name: str) -> None:
    assert found(hybrid, f"他在{name}上班。") == [("ORGANIZATION", name)]


@pytest.mark.parametrize(("text", "org"), [
    ("居民投诉时刻科技有限公司服务差。", "时刻科技有限公司"),  # the trade name before 科技 is taken
    ("他离开了星辰网络科技有限公司。", "星辰网络科技有限公司"),
    ("我们和科技有限公司签了合同。", "科技有限公司"),  # never over a conjunction
])  # fmt: skip
def test_a_registered_name_has_a_trade_name_before_its_industry_words(
    hybrid: HybridNer, text: str, org: str
) -> None:
    assert [t for k, t in found(hybrid, text) if k == "ORGANIZATION"] == [org]


def test_default_backend_is_hybrid() -> None:
    assert DEFAULT_BACKEND == "hybrid"
    assert make_ner().name == "hybrid"
    with pytest.raises(ValueError, match="hybrid, jiagu, jieba"):
        make_ner("msra")


# --- the scan path uses NER ----------------------------------------------------------------------


def test_scan_reports_ner_entities_with_offsets_into_the_file(tmp_path: Path) -> None:
    text = ("合同由北京字节跳动科技有限公司签署。\n"
            "收件人：王晓梅，地址：上海市浦东新区世纪大道100号，手机13912345678。\n")  # fmt: skip
    path = tmp_path / "letter.txt"
    path.write_text(text, encoding="utf-8")
    result = scan_file(path, PiiDetector(ner=make_ner()))
    got = {(e.type, e.text) for e in result.entities}
    assert {
        ("ORGANIZATION", "北京字节跳动科技有限公司"),
        ("PERSON", "王晓梅"),
        ("LOCATION", "上海市浦东新区世纪大道100号"),
        ("CN_MOBILE", "13912345678"),
    } <= got
    for e in result.entities:
        assert text[e.start : e.end] == e.text
    assert {e.source for e in result.entities if e.type in NER_TYPES} == {"hybrid"}
    assert result.counts["PERSON"] == 1
    # Without NER the same file has no names, places or organisations.
    assert not {e.type for e in scan_file(path, PiiDetector()).entities} & NER_TYPES


def test_scan_offsets_hold_across_chunks() -> None:
    head = "说明。" * 40
    tail = "联系人：赵立新，住在广州市天河区体育西路3号。"
    result = scan_chunks([head, tail], PiiDetector(ner=make_ner()), ScanResult("text"))
    whole = head + tail
    pers = [e for e in result.entities if e.type == "PERSON"]
    assert [(whole[e.start : e.end], e.text) for e in pers] == [("赵立新", "赵立新")]
    locs = [whole[e.start : e.end] for e in result.entities if e.type == "LOCATION"]
    assert locs == ["广州市天河区体育西路3号"]
