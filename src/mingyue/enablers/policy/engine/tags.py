"""Industry tags of a policy text: GB/T 4754-2017 categories named by the words that signal them.

A document (or clause) is tagged with a category when one of its signal words occurs in it. The
codes and names are those of GB/T 4754-2017《国民经济行业分类》(with its 2019 amendment); the
signal words are ours, chosen for the vocabulary of district industrial policy, and a tag is a
hint for filtering and matching, never a legal classification of a firm.
"""

from __future__ import annotations

# code, name, signal words
INDUSTRIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "I64",
        "互联网和相关服务",
        ("互联网", "web3", "IPv6", "平台经济", "元宇宙", "直播电商", "网红"),
    ),
    (
        "I65",
        "软件和信息技术服务业",
        (
            "软件",
            "人工智能",
            "大模型",
            "算法",
            "算力",
            "数据要素",
            "区块链",
            "数字孪生",
            "信息技术",
        ),
    ),
    ("I63", "电信、广播电视和卫星传输服务", ("卫星互联网", "卫星通信", "通导遥", "入网认证", "5G")),
    ("C39", "计算机、通信和其他电子设备制造业", ("芯片", "智能终端", "穿戴设备", "传感器", "模组")),
    ("C36", "汽车制造业", ("智能网联汽车", "新能源汽车", "自动驾驶", "车联网")),
    ("J66", "货币金融服务", ("金融科技", "供应链金融", "小额贷款", "持牌金融机构", "数字金融")),
    ("J69", "其他金融业", ("融资担保", "商业保理", "融资租赁")),
    ("M73", "研究和试验发展", ("研发", "新型研发机构", "科研", "实验室", "技术创新中心")),
    ("M75", "科技推广和应用服务业", ("技术转移", "成果转化", "孵化", "双创载体")),
    ("R86", "广播、电视、电影和录音制作业", ("数字内容", "影视", "云游戏", "沉浸式")),
    ("R88", "文化艺术业", ("文旅", "文创", "数字文化")),
    ("C34", "通用设备制造业", ("机器人", "减速器", "伺服")),
)


def industry_tags(text: str) -> tuple[str, ...]:
    """Return ``CODE 名称`` of each GB/T 4754 category whose signal words occur in ``text``."""
    lowered = text.lower()
    return tuple(
        f"{code} {name}"
        for code, name, words in INDUSTRIES
        if any(w.lower() in lowered for w in words)
    )
