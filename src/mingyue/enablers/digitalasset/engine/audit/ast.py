"""A thin reader over solc's compact JSON AST: walk nodes, map byte offsets to lines, read text."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from typing import Any

Node = dict[str, Any]


def walk(node: Any) -> Iterator[Node]:
    """Yield every AST node (a dict with ``nodeType``) under ``node``, depth first, in source order."""
    if isinstance(node, dict):
        if "nodeType" in node:
            yield node
        for key, value in node.items():
            if key in ("typeDescriptions", "src"):
                continue
            if isinstance(value, dict | list):
                yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


class Source:
    """The analysed text with solc's byte offsets turned into 1-based lines."""

    def __init__(self, text: str) -> None:
        self.raw = text.encode("utf-8")
        self._starts = [0] + [m.end() for m in re.finditer(rb"\n", self.raw)]

    def span(self, node: Node) -> tuple[int, int]:
        """Byte offset and length of a node."""
        parts = str(node.get("src", "0:0:0")).split(":")
        return int(parts[0]), int(parts[1])

    def line(self, node: Node) -> int:
        """1-based line where the node starts."""
        return bisect.bisect_right(self._starts, self.span(node)[0])

    def text(self, node: Node) -> str:
        """Source text of the node, whitespace squeezed."""
        start, length = self.span(node)
        return re.sub(r"\s+", "", self.raw[start : start + length].decode("utf-8", "replace"))


def index(ast: Node) -> dict[int, Node]:
    """Every node by its id (declarations are referenced by id)."""
    return {n["id"]: n for n in walk(ast) if isinstance(n.get("id"), int)}


def is_member(node: Node, base: str, member: str) -> bool:
    """``base.member`` (e.g. ``block.timestamp``, ``msg.sender``)."""
    return (
        node.get("nodeType") == "MemberAccess"
        and node.get("memberName") == member
        and node.get("expression", {}).get("nodeType") == "Identifier"
        and node["expression"].get("name") == base
    )


def called_name(call: Node) -> str:
    """Name of the called function of a FunctionCall: ``require``, ``transfer``, ``keccak256``…"""
    expr = call.get("expression", {})
    if expr.get("nodeType") == "Identifier":
        return str(expr.get("name", ""))
    if expr.get("nodeType") == "MemberAccess":
        return str(expr.get("memberName", ""))
    if expr.get("nodeType") == "FunctionCall":  # x.call.value(v)(...), x.call{value: v}(...)
        return called_name(expr)
    if expr.get("nodeType") == "FunctionCallOptions":
        return called_name({"expression": expr.get("expression", {})})
    return ""


def root_var(node: Node) -> Node | None:
    """The Identifier an lvalue is rooted at: ``a``, ``a[i]``, ``a[i].b`` → ``a``."""
    while node.get("nodeType") in ("IndexAccess", "MemberAccess"):
        node = node.get("baseExpression") or node.get("expression") or {}
    return node if node.get("nodeType") == "Identifier" else None
