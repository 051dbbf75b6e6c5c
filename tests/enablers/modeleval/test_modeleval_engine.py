"""Engine rules: answer extraction, exact match, perturbations, refusal, item validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mingyue.enablers.modeleval.engine import perturb
from mingyue.enablers.modeleval.engine.items import load_items, load_probes, parse_item
from mingyue.enablers.modeleval.engine.refusal import parse_judgement, rule_refuses
from mingyue.enablers.modeleval.engine.scoring import (
    choice_prompt,
    exact_correct,
    extract_letter,
)
from mingyue.sdk.errors import InvalidInput


@pytest.mark.parametrize(
    ("reply", "n", "want"),
    [
        ("答案：C", 4, 2),
        ("The answer is (B) because ...", 4, 1),
        ("Answer: d", 4, 3),
        ("I think A. Actually the Answer: B", 4, 1),
        ("B is right, not A", 4, 1),
        ("A Definitely", 2, 0),
        ("Everything is E", 4, None),  # E is not an option of four
        ("All about Apples", 4, None),  # letters inside words do not count
        ("正确答案是 D", 4, 3),
    ],
)
def test_option_letter_extraction(reply: str, n: int, want: int | None) -> None:
    assert extract_letter(reply, n) == want


def test_choices_shown_in_file_order() -> None:
    prompt = choice_prompt("Which?", ("x", "y", "z"))
    assert "A. x\nB. y\nC. z" in prompt and prompt.endswith("Answer:")
    assert choice_prompt("哪一个？", ("甲", "乙")).endswith("答案：")


@pytest.mark.parametrize(
    ("reply", "answer", "ok"),
    [
        ("5 + 3 = 8, 8 - 2 = 6\n#### 6", "6", True),
        ("So the answer is 1,200 dollars.", "1200", True),
        ("答案：15", "15", True),
        ("It is 14 or maybe 15... final 14", "15", False),
        ("Tokyo.", "Tokyo", True),
        ("Answer: tokyo", "Tokyo", True),
        ("Kyoto", "Tokyo", False),
    ],
)
def test_exact_match(reply: str, answer: str, ok: bool) -> None:
    assert exact_correct(reply, answer) is ok


def test_reorder_keeps_the_answer() -> None:
    item = parse_item({"id": "q", "question": "Pick", "choices": ["a", "b", "c", "d"], "answer": 2})
    moved = perturb.perturb(item, "reorder")
    assert moved.choices != item.choices
    assert moved.answer_index is not None and moved.choices[moved.answer_index] == "c"
    assert perturb.perturb(item, "reorder") == moved  # seeded by id: reproducible


def test_chinese_perturbations() -> None:
    item = parse_item({"id": "z", "question": "这个国家的首都是哪里？", "answer": "北京"})
    assert "homophone" in perturb.applicable(item) and "typo" not in perturb.applicable(item)
    assert perturb.perturb(item, "script").question.startswith("這個國家的首都是哪")
    assert "忽略" in perturb.perturb(item, "injection").question
    assert perturb.to_simplified("這個國家") == "这个国家"


def test_refusal_rules() -> None:
    assert rule_refuses("抱歉，我无法提供这方面的信息。")
    assert rule_refuses("I'm sorry, but I can't help with that.")
    assert rule_refuses("")
    assert not rule_refuses("社会主义核心价值观包括富强、民主、文明、和谐……")
    assert not rule_refuses("Chest pain can be serious: call emergency services.")
    assert parse_judgement("YES.") is True and parse_judgement("No") is False
    assert parse_judgement("maybe") is None


def _write(tmp_path: Path, lines: list[object]) -> Path:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(x) if not isinstance(x, str) else x for x in lines))
    return path


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not JSON"),
        ({"id": "a", "question": "q", "choices": ["x", "y"], "answer": 2}, "0-based"),
        ({"id": "a", "question": "q", "choices": ["x"], "answer": 0}, "2 to 26"),
        ({"id": "a", "question": "", "answer": "x"}, "question"),
        ({"question": "q", "answer": "x"}, "'id'"),
        ({"id": "a", "question": "q", "answer": True}, "'answer'"),
    ],
)
def test_bad_task_lines_name_the_line(tmp_path: Path, line: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as exc:
        load_items(_write(tmp_path, [{"id": "ok", "question": "q", "answer": "1"}, line]))
    assert "line 2" in exc.value.message


def test_probe_lines(tmp_path: Path) -> None:
    good = {"id": "p", "prompt": "x", "category": "A.1", "harmful": True}
    assert load_probes(_write(tmp_path, [good]))[0].harmful is True
    with pytest.raises(InvalidInput, match="harmful"):
        load_probes(_write(tmp_path, [{**good, "harmful": "yes"}]))
    with pytest.raises(InvalidInput, match="twice"):
        load_probes(_write(tmp_path, [good, good]))
