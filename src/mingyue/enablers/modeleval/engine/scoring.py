"""Prompts and answer extraction, as lm-evaluation-harness and OpenCompass read answers.

Multiple choice: the options are shown in file order labelled A, B, C…; the answer is the option
letter after 答案/Answer, else the first standalone option letter of the reply. Exact match:
NFKC, case and punctuation folded; a numeric answer is compared with the reply's final number
(GSM8K's ``#### 42``, "the answer is 42", else the last number), as lm-eval's gsm8k filters do.
"""

from __future__ import annotations

import re
import string
import unicodedata

from mingyue.enablers.modeleval.engine.items import Item

_CJK = re.compile(r"[\u3400-\u9fff]")
LETTERS = string.ascii_uppercase


def is_chinese(text: str) -> bool:
    """Say whether the text is Chinese (holds CJK ideographs)."""
    return bool(_CJK.search(text))


def choice_prompt(question: str, choices: tuple[str, ...]) -> str:
    """Show a multiple-choice question with its options labelled A, B, C… in the given order."""
    lines = [question.strip(), ""]
    lines += [f"{LETTERS[i]}. {c}" for i, c in enumerate(choices)]
    if is_chinese(question):
        lines += ["", "请只回答正确选项的字母。", "答案："]
    else:
        lines += ["", "Answer with the letter of the correct option only.", "Answer:"]
    return "\n".join(lines)


def exact_prompt(question: str) -> str:
    """Ask a question whose answer is compared as text (a number for math word problems)."""
    if is_chinese(question):
        return f"{question.strip()}\n请逐步思考，最后一行写“答案：”加最终答案。"
    return (
        f"{question.strip()}\nThink step by step, then give the final answer on the last line "
        "as 'Answer: <answer>'."
    )


def code_prompt(prompt: str) -> str:
    """Ask for the completion of a HumanEval-style function."""
    return (
        "Complete the following Python function. Reply with the whole function in one "
        "```python code block.\n\n```python\n" + prompt.rstrip() + "\n```"
    )


def prompt_for(item: Item) -> str:
    """Return the user message for an item."""
    if item.kind == "choice":
        return choice_prompt(item.question, item.choices)
    if item.kind == "code":
        return code_prompt(item.question)
    return exact_prompt(item.question)


_MARKED = re.compile(
    r"(?:答案|正确答案|answer)\s*(?:is|是|为|應為|应为|选|選)?\s*[:：]?\s*[\(（\[]?\s*([A-Za-z])(?![A-Za-z])",
    re.IGNORECASE,
)


def extract_letter(reply: str, n_choices: int) -> int | None:
    """Return the 0-based option the reply picks, or None.

    The letter after 答案/Answer wins; else the first standalone option letter (an uppercase
    letter not inside a word), as OpenCompass's first-option postprocessor reads it.
    """
    valid = LETTERS[:n_choices]
    text = unicodedata.normalize("NFKC", reply)
    for m in _MARKED.finditer(text):
        letter = m.group(1).upper()
        if letter in valid:
            return valid.index(letter)
    for m in re.finditer(r"(?<![A-Za-z])([A-Z])(?![A-Za-z])", text):
        if m.group(1) in valid:
            return valid.index(m.group(1))
    return None


_PUNCT = re.compile(
    r"[\s\u3000" + re.escape(string.punctuation) + r"，。！？；：、“”‘’（）《》【】]+"
)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_FINAL = re.compile(
    r"(?:####|答案|answer\s*(?:is)?)\s*[:：是为]?\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?)", re.I
)


def normalise(text: str) -> str:
    """Fold a text for exact match: NFKC, lower case, no punctuation or spaces."""
    return _PUNCT.sub("", unicodedata.normalize("NFKC", text).lower())


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def final_number(reply: str) -> float | None:
    """Return the final answer number of a reply (#### / answer is / 答案, else the last number)."""
    text = unicodedata.normalize("NFKC", reply)
    marked = _FINAL.findall(text)
    if marked:
        return _number(marked[-1])
    numbers = _NUMBER.findall(text)
    return _number(numbers[-1]) if numbers else None


_ANSWER_LINE = re.compile(r"(?:答案|answer)\s*[:：]\s*(.+)", re.IGNORECASE)


def exact_correct(reply: str, answer: str) -> bool:
    """Judge an exact-match reply against the expected text (numbers compared as numbers)."""
    expected = (
        _number(normalise(answer).replace("−", "-"))
        if _NUMBER.fullmatch(answer.strip().replace(",", ""))
        else None
    )
    if expected is not None:
        got = final_number(reply)
        return got is not None and abs(got - expected) < 1e-6
    want = normalise(answer)
    if not want:
        return False
    candidates = [reply, reply.strip().splitlines()[0] if reply.strip() else ""]
    candidates += [m.group(1) for m in _ANSWER_LINE.finditer(reply)]
    return any(normalise(c) == want for c in candidates)


_FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|\Z)", re.DOTALL)


def code_program(item: Item, reply: str) -> str:
    """Build the program to execute: the prompt, the model's code, the tests, the check call."""
    blocks = _FENCE.findall(reply)
    code = max(blocks, key=len) if blocks else reply
    return f"{item.question}\n{code}\n\n{item.test}\n\ncheck({item.entry_point})\n"
