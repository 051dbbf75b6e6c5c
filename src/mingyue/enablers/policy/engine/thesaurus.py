"""Query expansion: the words people say for the terms policy documents use.

Firms ask in everyday words (``海外``, ``孩子``, ``免罚``); measures are written in administrative
terms (``境外``, ``子女``, ``不予处罚``). A question is expanded with the administrative terms of
the everyday words it contains before retrieval — the classic thesaurus step of a search engine.
The table is general government-service vocabulary (our own list), not tuned to one document:
each line maps one everyday word to the terms a normative document writes instead.
"""

from __future__ import annotations

import re

THESAURUS: dict[str, tuple[str, ...]] = {
    "海外": ("境外", "跨境", "出境"),
    "国外": ("境外", "跨境"),
    "外国": ("境外",),
    "外籍": ("境外",),
    "出国": ("出境",),
    "孩子": ("子女",),
    "小孩": ("子女",),
    "上学": ("入学",),
    "家属": ("配偶", "随迁"),
    "爱人": ("配偶",),
    "免罚": ("不予处罚",),
    "不罚": ("不予处罚",),
    "罚款": ("处罚",),
    "违规": ("违法", "不合规"),
    "gpu": ("算力",),
    "显卡": ("算力",),
    "计算资源": ("算力",),
    "手机应用": ("app",),
    "应用程序": ("app",),
    "小程序": ("app",),
    "上市": ("首次公开发行", "挂牌"),
    "补助": ("补贴",),
    "资助": ("补贴", "奖励"),
    "奖金": ("奖励",),
    "住房": ("安居", "公寓"),
    "房租": ("租房",),
    "租金": ("租房",),
    "利息": ("贴息",),
    "隐私": ("个人信息",),
    "无人驾驶": ("自动驾驶",),
    "路测": ("测试",),
    "vr": ("虚拟现实",),
    "ar": ("增强现实",),
    "ai": ("人工智能",),
    "政府数据": ("公共数据",),
    "热线": ("服务热线",),
    "专利": ("知识产权",),
    "初创": ("创业",),
    "落户": ("入驻",),
    "网店": ("电子商务",),
    "电商": ("电子商务",),
    "营业执照": ("登记",),
    "社保": ("社会保险",),
    "医保": ("医疗保险",),
}


def expand(question: str) -> str:
    """Return the question followed by the administrative terms of its everyday words."""
    lowered = question.lower()
    extra: list[str] = []
    for word, terms in THESAURUS.items():
        if word in lowered if not word.isascii() else _LATIN[word].search(lowered):
            extra.extend(t for t in terms if t not in lowered and t not in extra)
    return f"{question} {' '.join(extra)}" if extra else question


# Latin words match whole words only (``ar`` is not the inside of ``smart``).
_LATIN = {w: re.compile(rf"(?<![a-z]){w}(?![a-z])") for w in THESAURUS if w.isascii()}
