"""Clause splitting and document reading: Chinese legal numbering, layout joins, metadata, formats."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest

from mingyue.enablers.policy.engine.clauses import (
    clean_lines,
    cn_number,
    compare,
    find_marker,
    join_broken_lines,
    segment,
)
from mingyue.enablers.policy.engine.ingest import docx_lines, parse_document, slugify, sniff_format
from mingyue.sdk.errors import InvalidInput

SEED = (
    Path(__file__).resolve().parents[3]
    / "src/mingyue/enablers/policy/corpus/liangjiang-mingyue-measures-2023.txt"
)

# A generated regulation in the shape of a law: chapters, articles numbered through the law,
# items and points inside articles; the signature and date follow the body.
LAW = """某市数据条例（草案）

第一章 总则
第一条 为了规范数据处理活动，促进数据依法有序流动，制定本条例。
第二条 本条例适用于本市行政区域内的数据处理活动。
第二章 数据流通
第三条 鼓励企业在下列领域开展数据流通：
（一）智能网联汽车；
（二）金融科技。
第四条 数据交易应当遵守下列规定：
（一）签订书面合同；
1.合同应载明数据来源；
2.合同应载明用途。
（二）留存交易记录。
第五条 本条例自2024年1月1日起施行，有效期三年。
某市人民代表大会常务委员会
2023年12月1日
"""


def test_numerals_and_markers() -> None:
    assert cn_number("二十四") == 24 and cn_number("十") == 10 and cn_number("一百零五") == 105
    assert cn_number("12") == 12
    with pytest.raises(ValueError):
        cn_number("甲")
    m = find_marker("(七) 推动数字科技")
    assert m is not None and (m.kind, m.label, m.number) == ("item", "（七）", 7)
    m = find_marker("第十二条 数据")
    assert m is not None and (m.kind, m.label) == ("article", "第十二条")
    assert find_marker("2023年8月23日") is None  # a year is not a point number
    assert find_marker("1.5亿元的补贴") is None  # a decimal is not a point number
    m = find_marker("3、合同")
    assert m is not None and (m.kind, m.label) == ("point", "3")


def test_seed_document_splits_into_its_24_measures() -> None:
    doc = parse_document(SEED.read_bytes(), filename=SEED.name)
    meta = doc.meta
    assert meta.doc_number == "渝两江管发〔2023〕23号"
    assert meta.issuer == "重庆两江新区管理委员会"
    assert meta.issued_on == date(2023, 8, 23) and meta.effective_from == date(2023, 8, 23)
    assert meta.title.startswith("关于支持明月湖") and meta.title.endswith("措施（试行）")
    assert " " not in meta.title  # the layout's space inside the title is gone
    assert meta.validity == "trial" and meta.published and meta.region == "重庆两江新区"
    assert "I65 软件和信息技术服务业" in meta.industry_tags
    items = [c for c in doc.clauses if c.kind == "item"]
    assert [c.number for c in items] == list(range(1, 25))
    parts = [c.path for c in doc.clauses if c.kind == "part"]
    assert parts == ["一", "二", "三", "四", "五"]
    by_path = {c.path: c for c in doc.clauses}
    assert by_path["二.（七）"].parent == "二"  # "(七)" with half-width brackets, normalised
    assert by_path["一.（一）"].heading == "大力发展通用人工智能产业"
    assert by_path["一.（一）"].context == (
        "加快推动以下一代互联网为引领的数字科技产业创新与集聚发展",
    )
    # A measure the page layout cut in two is joined back into one clause.
    assert "研发面向云端训练和终端执行的人工智能开发框架" in by_path["一.（一）"].text
    assert "\n" not in by_path["三.（十二）"].text
    assert "打造卫星互联网应用先导区" in by_path["一.（四）"].text
    preamble = by_path["序言"]
    assert preamble.kind == "preamble" and preamble.text.startswith("数字科技是世界科技革命")
    assert "印发给你们" not in preamble.text  # the cover notice is front matter, not a clause


def test_law_articles_items_points_and_validity() -> None:
    doc = parse_document(LAW.encode("utf-8"), filename="law.txt")
    paths = [c.path for c in doc.clauses]
    assert paths == [
        "第一章",
        "第一条",
        "第二条",
        "第二章",
        "第三条",
        "第三条.（一）",
        "第三条.（二）",
        "第四条",
        "第四条.（一）",
        "第四条.（一）.1",
        "第四条.（一）.2",
        "第四条.（二）",
        "第五条",
    ]
    by_path = {c.path: c for c in doc.clauses}
    assert by_path["第四条.（一）.2"].parent == "第四条.（一）"
    assert by_path["第二条"].context == ("总则",)  # the chapter's title, though not in the path
    assert doc.meta.title == "某市数据条例（草案）"
    assert doc.meta.issuer == "某市人民代表大会常务委员会"
    assert doc.meta.issued_on == date(2023, 12, 1)
    assert doc.meta.effective_from == date(2024, 1, 1)
    assert doc.meta.effective_to == date(2027, 1, 1)  # 有效期三年
    assert "2023年12月1日" not in by_path["第五条"].text  # the signature is not the last clause


def test_a_number_out_of_sequence_stays_text() -> None:
    lines = [
        "一、总体要求",
        "（一）目标。到2025年：",
        "3.这不是第三点，前面没有1和2。",
        "（二）任务。",
    ]
    clauses = segment(join_broken_lines(clean_lines(lines)))
    assert [c.path for c in clauses] == ["一", "一.（一）", "一.（二）"]
    assert "3.这不是第三点" in clauses[1].text


def test_page_numbers_and_layout_spaces_go() -> None:
    lines = [
        "一、支持 创新",
        "— 3 —",
        "第 2 页 共 9 页",
        "（一）对 企业 给予奖励，最高",
        "不超过 100 万元。",
    ]
    out = join_broken_lines(clean_lines(lines))
    assert out == ["一、支持创新", "（一）对企业给予奖励，最高不超过 100 万元。"]


def test_versions_compare_by_path() -> None:
    old = {"一": "总则", "一.（一）": "奖励 100 万元。", "一.（二）": "旧条款。"}
    new = {"一": "总则", "一.（一）": "奖励 200 万元。", "一.（三）": "新条款。"}
    assert compare(old, new) == {
        "一": "unchanged",
        "一.（一）": "changed",
        "一.（三）": "added",
        "一.（二）": "removed",
    }


def test_html_page() -> None:
    html = (
        "<html><head><title>x</title><script>var a='一、不是条款';</script></head><body>"
        "<h1>关于促进数据要素发展的若干措施</h1><div class='content'><p>一、总体要求</p>"
        "<p>（一）支持企业开展数据交易。<br>（二）支持数据出境<b>安全评估</b>。</p></div>"
        "</body></html>"
    ).encode()
    assert sniff_format(html, "a.html") == "html"
    doc = parse_document(html, filename="a.html")
    assert doc.format == "html" and doc.meta.title == "关于促进数据要素发展的若干措施"
    assert [c.path for c in doc.clauses] == ["一", "一.（一）", "一.（二）"]
    assert doc.clauses[2].text == "（二）支持数据出境安全评估。"


def test_docx_with_word_numbering() -> None:
    docx = pytest.importorskip("docx")
    d = docx.Document()
    d.add_paragraph("关于支持软件企业的若干措施")
    d.add_paragraph("一、总体要求")
    d.add_paragraph("（一）支持企业研发，给予研发费用补贴。")
    d.add_paragraph("对首次认定的企业给予奖励。", style="List Number")  # Word numbers it, not text
    d.add_paragraph("对再次认定的企业给予奖励。", style="List Number")
    table = d.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "联系人"
    table.cell(0, 1).text = "张三"
    buf = io.BytesIO()
    d.save(buf)
    lines = docx_lines(buf.getvalue())
    assert "1.对首次认定的企业给予奖励。" in lines and "联系人 张三" in lines
    doc = parse_document(buf.getvalue(), filename="m.docx")
    assert doc.format == "docx"
    assert [c.path for c in doc.clauses] == ["一", "一.（一）", "一.（一）.1", "一.（一）.2"]


def test_pdf_lines_wrapped_by_the_layout() -> None:
    weasyprint = pytest.importorskip(
        "weasyprint", reason="weasyprint (appcheck extra) renders PDFs"
    )
    html = (
        "<html><body style=\"font-family:'Noto Serif CJK SC',serif;font-size:16pt;width:12cm\">"
        "<p>某区管理委员会文件</p><p>某管发〔2024〕5号</p><p>关于支持数据要素企业发展的若干措施</p>"
        "<p>一、支持企业数据流通</p>"
        "<p>（一）对在本区数据交易所完成交易的企业，按交易额的百分之五给予奖励，单个企业每年最高"
        "不超过一百万元。</p><p>（二）支持企业开展数据出境安全评估。</p><p>2024年3月1日</p>"
        "</body></html>"
    )
    pdf = weasyprint.HTML(string=html).write_pdf()
    doc = parse_document(pdf, filename="m.pdf")
    if not any("数据" in c.text for c in doc.clauses):
        pytest.skip("no CJK font on this machine: the PDF carries no Chinese text")
    assert doc.format == "pdf" and doc.meta.doc_number == "某管发〔2024〕5号"
    by_path = {c.path: c.text for c in doc.clauses}
    assert list(by_path) == ["一", "一.（一）", "一.（二）"]
    assert "\n" not in by_path["一.（一）"] and by_path["一.（一）"].endswith("不超过一百万元。")


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (b"", "policy.empty_document"),
        (b"\x00\x01\x02binary", "policy.bad_format"),
        (b"PK\x03\x04not a docx", "policy.bad_format"),
        (b"%PDF-1.7 broken", "policy.bad_pdf"),
        (b"\xff\xfe\xfa\xfb\xfc", "policy.bad_encoding"),
    ],
)
def test_unreadable_documents_are_refused(data: bytes, key: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_document(data, filename="x")
    assert exc.value.key == key


def test_slugs() -> None:
    assert slugify("Liangjiang Measures 2023.PDF", "x") == "liangjiang-measures-2023"
    assert slugify("两江新区措施.pdf", "doc-abc") == "doc-abc"
