"""Our own checks on solc's AST, for what Slither does not see in pre-0.8 code.

Each rule is a known weakness class (SWC registry, DASP 10); none looks at file or contract names
beyond what Solidity itself gives meaning to (a pre-0.4.22 constructor shares its contract's name;
ERC-20 defines ``approve(address,uint256)``).

- ``mingyue-unchecked-arithmetic`` (SWC-101): +, -, * (and +=, -=, *=) on integers fed by a
  caller's argument, compiled before 0.8 (or inside ``unchecked``), outside a library, with no
  earlier require/assert/if comparing the same operands.
- ``mingyue-erc20-approve-race`` (SWC-114): ``approve`` overwrites an allowance without requiring
  the old or the new value to be zero.
- ``mingyue-tx-order-reward`` (SWC-114): Ether paid out of a state variable that another public
  function can change before the payout is mined.
- ``mingyue-hash-puzzle`` (SWC-114): a public function pays the caller for a preimage of a stored
  hash; the solution is visible in the mempool.
- ``mingyue-short-address`` (DASP 9): before 0.5.0 calldata length was not checked; a public
  function taking an address before an amount that credits the address, without a
  ``msg.data.length`` check.
- ``mingyue-chain-randomness`` (SWC-120) / ``mingyue-timestamp-randomness`` (SWC-116): block
  values (blockhash, number, difficulty, coinbase; timestamp) hashed or reduced modulo, and the
  variables that carry them there.
- ``mingyue-timestamp-state`` (SWC-116): ``now``/``block.timestamp`` returned, or stored in a
  state variable that a condition later compares.
- ``mingyue-unprotected-owner-write`` (SWC-105/118): a public function writes a variable that
  access checks compare with ``msg.sender``, without checking the caller itself (includes a
  misnamed pre-0.4.22 constructor).
- ``mingyue-dos-push-payment`` (SWC-113): a payment whose failure reverts, to a stored address that
  is not privileged (a previous bidder, an array entry): one recipient can block everyone.
- ``mingyue-array-length-write`` (SWC-124): before 0.6 a public function that checks no caller
  shrinks or sets a state array's length.
- ``mingyue-dos-unbounded-loop`` (SWC-128): a loop bounded by a caller's argument or a growing
  state array that writes storage or calls out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from mingyue.enablers.digitalasset.engine.audit.ast import (
    Node,
    Source,
    called_name,
    index,
    is_member,
    root_var,
    walk,
)
from mingyue.enablers.digitalasset.engine.audit.pragma import Version

_COMPARE = {"==", "!=", "<", "<=", ">", ">="}
_HASHES = {"keccak256", "sha3", "sha256", "ripemd160"}
_PAY = {"transfer", "send"}


@dataclass(frozen=True, slots=True)
class RuleHit:
    """One finding of our rules."""

    category: str
    swc: str
    line: int
    severity: str
    detector: str
    message: str


@dataclass(slots=True)
class _Fn:
    node: Node
    contract: Node
    params: set[int]
    tainted: set[int]
    conditions: list[tuple[int, Node]] = field(default_factory=list)

    @property
    def public(self) -> bool:
        return self.node.get("visibility", "public") in ("public", "external")

    @property
    def constructor(self) -> bool:
        n = self.node
        return bool(
            n.get("isConstructor")
            or n.get("kind") == "constructor"
            or (n.get("name") and n.get("name") == self.contract.get("name"))
        )

    @property
    def name(self) -> str:
        return str(self.node.get("name", ""))


def _refs(node: Node) -> set[int]:
    return {
        int(n["referencedDeclaration"])
        for n in walk(node)
        if n.get("nodeType") == "Identifier" and isinstance(n.get("referencedDeclaration"), int)
    }


def _value_refs(node: Node) -> set[int]:
    """Declarations whose value flows into ``node``: calls other than type conversions stop it."""
    out: set[int] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if not isinstance(n, dict):
            continue
        t = n.get("nodeType")
        if t == "Identifier" and isinstance(n.get("referencedDeclaration"), int):
            out.add(int(n["referencedDeclaration"]))
            continue
        if t == "FunctionCall" and n.get("kind", "functionCall") != "typeConversion":
            continue
        for key, value in n.items():
            if key in ("typeDescriptions", "src"):
                continue
            if isinstance(value, dict):
                stack.append(value)
            elif isinstance(value, list):
                stack.extend(v for v in value if isinstance(v, dict))
    return out


def _int_type(node: Node) -> bool:
    t = str(node.get("typeDescriptions", {}).get("typeString", ""))
    return t.startswith(("uint", "int")) and not t.startswith("int_const")


def _is_literal(node: Node) -> bool:
    return node.get("nodeType") == "Literal" or str(
        node.get("typeDescriptions", {}).get("typeString", "")
    ).startswith(("int_const", "rational_const"))


def _conditions(body: Node) -> Iterator[Node]:
    """Condition expressions: require/assert arguments, if/while/for/ternary conditions."""
    for n in walk(body):
        t = n.get("nodeType")
        if t == "FunctionCall" and called_name(n) in ("require", "assert"):
            args = n.get("arguments") or []
            if args:
                yield args[0]
        elif t in (
            "IfStatement",
            "WhileStatement",
            "DoWhileStatement",
            "ForStatement",
            "Conditional",
        ):
            cond = n.get("condition")
            if isinstance(cond, dict):
                yield cond


def _block_kind(n: Node) -> str | None:
    """'time' for now/block.timestamp, 'chain' for other block values, None otherwise."""
    t = n.get("nodeType")
    if (
        t == "Identifier"
        and n.get("name") == "now"
        and not isinstance(n.get("referencedDeclaration"), int | None)
    ):
        return "time"
    if t == "Identifier" and n.get("name") == "now" and (n.get("referencedDeclaration") or 0) < 0:
        return "time"
    if is_member(n, "block", "timestamp"):
        return "time"
    for member in ("number", "difficulty", "coinbase", "prevrandao", "blockhash"):
        if is_member(n, "block", member):
            return "chain"
    if t == "FunctionCall" and called_name(n) == "blockhash":
        return "chain"
    return None


class Analysis:
    """Our rules over one compiled source unit."""

    def __init__(self, ast: Node, text: str, compiler: Version) -> None:
        self.ast = ast
        self.src = Source(text)
        self.compiler = compiler
        self.ids = index(ast)
        self.hits: list[RuleHit] = []
        self._guard_ops_cache: dict[int, set[int]] = {}
        self.contracts = [n for n in walk(ast) if n.get("nodeType") == "ContractDefinition"]
        self.state_vars: dict[int, Node] = {
            n["id"]: n
            for n in walk(ast)
            if n.get("nodeType") == "VariableDeclaration" and n.get("stateVariable")
        }
        self.fns: list[_Fn] = []
        for c in self.contracts:
            for f in c.get("nodes", []):
                if f.get("nodeType") in ("FunctionDefinition", "ModifierDefinition") and f.get(
                    "body"
                ):
                    self.fns.append(self._fn(f, c))
        self.access_vars = self._access_vars()

    # -- helpers --------------------------------------------------------------------------
    def _fn(self, f: Node, c: Node) -> _Fn:
        params = {
            p["id"]
            for p in (f.get("parameters") or {}).get("parameters", [])
            if isinstance(p.get("id"), int)
        }
        # a caller controls the arguments of public and external functions only
        public = f.get("visibility", "public") in ("public", "external")
        tainted = set(params) if public and f.get("nodeType") == "FunctionDefinition" else set()
        for n in walk(f.get("body")):
            if n.get("nodeType") == "VariableDeclarationStatement" and n.get("initialValue"):
                if _value_refs(n["initialValue"]) & tainted:
                    tainted.update(
                        d["id"] for d in n.get("declarations") or [] if isinstance(d, dict)
                    )
            elif n.get("nodeType") == "Assignment":
                lhs = n.get("leftHandSide", {})
                if (
                    lhs.get("nodeType") == "Identifier"
                    and _value_refs(n.get("rightHandSide", {})) & tainted
                ):
                    ref = lhs.get("referencedDeclaration")
                    if isinstance(ref, int) and ref not in self.state_vars:
                        tainted.add(ref)
        fn = _Fn(f, c, params, tainted)
        fn.conditions = [(self.src.span(cond)[0], cond) for cond in _conditions(f.get("body", {}))]
        for m in f.get("modifiers") or []:
            mod = self.ids.get((m.get("modifierName") or {}).get("referencedDeclaration", -1))
            if mod and mod.get("body"):
                fn.conditions.extend((-1, cond) for cond in _conditions(mod["body"]))
        return fn

    def _hit(
        self, node: Node, category: str, swc: str, severity: str, detector: str, msg: str
    ) -> None:
        self.hits.append(RuleHit(category, swc, self.src.line(node), severity, detector, msg))

    def _mentions_sender(self, cond: Node) -> bool:
        return any(
            is_member(n, "msg", "sender") or is_member(n, "tx", "origin") for n in walk(cond)
        )

    def _access_vars(self) -> set[int]:
        """State variables compared with msg.sender/tx.origin, or address/bool mappings read at msg.sender."""
        out: set[int] = set()
        for fn in self.fns:
            for _, cond in fn.conditions:
                for n in walk(cond):
                    if n.get("nodeType") == "BinaryOperation" and n.get("operator") in ("==", "!="):
                        sides = (n.get("leftExpression", {}), n.get("rightExpression", {}))
                        for a, b in (sides, sides[::-1]):
                            if (
                                self._mentions_sender(a)
                                and not self._mentions_sender(b)
                                and b.get("nodeType") == "Identifier"
                                and b.get("referencedDeclaration") in self.state_vars
                            ):
                                out.add(b["referencedDeclaration"])
                    if n.get("nodeType") == "IndexAccess" and self._mentions_sender(
                        n.get("indexExpression") or {}
                    ):
                        t = str(n.get("typeDescriptions", {}).get("typeString", ""))
                        r = root_var(n)
                        if t in ("address", "bool", "address payable") and r:
                            ref = r.get("referencedDeclaration")
                            if ref in self.state_vars:
                                out.add(ref)
        return out

    def _checks_caller(self, fn: _Fn, depth: int = 0) -> bool:
        if any(self._mentions_sender(c) for _, c in fn.conditions):
            return True
        if depth >= 3:
            return False
        for n in walk(fn.node.get("body")):
            if n.get("nodeType") == "FunctionCall":
                ref = (n.get("expression") or {}).get("referencedDeclaration")
                callee = next((g for g in self.fns if g.node.get("id") == ref), None)
                if callee is not None and self._checks_caller(callee, depth + 1):
                    return True
        for m in fn.node.get("modifiers") or []:
            mod = self.ids.get((m.get("modifierName") or {}).get("referencedDeclaration", -1))
            if mod is not None:
                inner = next((g for g in self.fns if g.node is mod), None)
                if inner is not None and self._checks_caller(inner, depth + 1):
                    return True
            for arg in m.get("arguments") or []:
                if self._mentions_sender(arg):
                    return True
        return False

    def _guarded(self, fn: _Fn, op_node: Node, operands: Iterable[Node]) -> bool:
        """An earlier condition compares the same things (the variable, or the struct member an
        alias reaches, and the argument) without itself doing unchecked arithmetic."""
        op_start, _op_len = self.src.span(op_node)
        keys: list[set[str]] = []
        for op in operands:
            names = {self.src.text(op)}
            if op.get("nodeType") == "MemberAccess":
                names.add("." + str(op.get("memberName")))
            keys.append({k for k in names if k})
        for start, cond in fn.conditions:
            c_start, c_len = self.src.span(cond)
            if start > op_start or (c_start <= op_start < c_start + c_len):
                continue
            ctext = self.src.text(cond)
            compares = False
            wraps = False
            for n in walk(cond):
                if n.get("nodeType") == "BinaryOperation":
                    compares |= n.get("operator") in _COMPARE
                    if n.get("operator") in ("+", "-", "*") and _int_type(n):
                        wraps |= n.get("id") not in self._guard_ops_cache.get(id(fn), set())
            if not compares or wraps:
                continue
            if all(any(k in ctext for k in ks) for ks in keys):
                return True
        return False

    def _payments(self, fn: _Fn) -> Iterator[tuple[Node, Node | None, Node | None]]:
        """(call, recipient, amount) for transfer/send/call.value payments in a function."""
        for n in walk(fn.node.get("body")):
            if n.get("nodeType") != "FunctionCall":
                continue
            expr = n.get("expression") or {}
            if expr.get("nodeType") == "MemberAccess" and expr.get("memberName") in _PAY:
                args = n.get("arguments") or []
                yield n, expr.get("expression"), (args[0] if args else None)
            elif (
                expr.get("nodeType") == "FunctionCall"
                and (expr.get("expression") or {}).get("memberName") == "value"
            ):
                inner = (expr.get("expression") or {}).get("expression") or {}
                args = expr.get("arguments") or []
                if inner.get("memberName") == "call":
                    yield n, inner.get("expression"), (args[0] if args else None)

    # -- rules ----------------------------------------------------------------------------
    def run(self) -> list[RuleHit]:
        """Run every rule; return hits de-duplicated by (detector, line)."""
        self.unchecked_arithmetic()
        self.approve_race()
        self.tx_order_reward()
        self.hash_puzzle()
        self.short_address()
        self.block_values()
        self.unprotected_owner_write()
        self.push_payment()
        self.unbounded_loop()
        self.array_length_write()
        seen: set[tuple[str, int]] = set()
        out = []
        for h in self.hits:
            if (h.detector, h.line) not in seen:
                seen.add((h.detector, h.line))
                out.append(h)
        return out

    def unchecked_arithmetic(self) -> None:
        """SWC-101 before 0.8 (or in ``unchecked``): integer ops fed by a caller's argument."""
        for fn in self.fns:
            if fn.contract.get("contractKind") == "library":
                continue
            checked_by_compiler = self.compiler >= (0, 8, 0)
            unchecked_spans = [
                self.src.span(n)
                for n in walk(fn.node.get("body"))
                if n.get("nodeType") == "UncheckedBlock"
            ]
            guard_ops = self._overflow_guard_ops(fn)
            self._guard_ops_cache[id(fn)] = guard_ops
            for n in walk(fn.node.get("body")):
                t = n.get("nodeType")
                start = self.src.span(n)[0]
                if checked_by_compiler and not any(
                    a <= start < a + ln for a, ln in unchecked_spans
                ):
                    continue
                if t == "Assignment" and n.get("operator") in ("+=", "-=", "*="):
                    lhs, rhs = n.get("leftHandSide", {}), n.get("rightHandSide", {})
                    r = root_var(lhs)
                    if (
                        not r
                        or r.get("referencedDeclaration") not in self.state_vars
                        or not _int_type(lhs)
                    ):
                        continue
                    if not (_value_refs(rhs) & fn.tainted) or self._guarded(fn, n, (lhs, rhs)):
                        continue
                    self._hit(
                        n,
                        "arithmetic",
                        "SWC-101",
                        "high",
                        "mingyue-unchecked-arithmetic",
                        f"'{n['operator']}' on state variable with a caller's value, no overflow check",
                    )
                elif (
                    t == "BinaryOperation" and n.get("operator") in ("+", "-", "*") and _int_type(n)
                ):
                    if n.get("id") in guard_ops:
                        continue
                    cond = next(
                        (
                            c
                            for st, c in fn.conditions
                            if st >= 0 and self.src.span(c)[0] <= start < sum(self.src.span(c))
                        ),
                        None,
                    )
                    # inside a check the wrapped value is only compared; the one classic is an
                    # unsigned difference tested against zero, which is always true
                    if cond is not None and not (
                        n.get("operator") == "-" and ">=0" in self.src.text(cond)
                    ):
                        continue
                    a, b = n.get("leftExpression", {}), n.get("rightExpression", {})
                    if _is_literal(a) and _is_literal(b):
                        continue
                    ta, tb = bool(_value_refs(a) & fn.tainted), bool(_value_refs(b) & fn.tainted)
                    if not (ta or tb):
                        continue
                    other = b if ta else a
                    if n.get("operator") != "*" and _is_literal(other):
                        continue
                    if self._guarded(fn, n, (a, b)):
                        continue
                    self._hit(
                        n,
                        "arithmetic",
                        "SWC-101",
                        "medium",
                        "mingyue-unchecked-arithmetic",
                        f"'{n['operator']}' on a caller's value can wrap (compiled before 0.8)",
                    )

    def _overflow_guard_ops(self, fn: _Fn) -> set[int]:
        """Ops that are themselves an overflow check: ``a + b >= a``."""
        out: set[int] = set()
        for _, cond in fn.conditions:
            for n in walk(cond):
                if n.get("nodeType") != "BinaryOperation" or n.get("operator") not in _COMPARE:
                    continue
                sides = (n.get("leftExpression", {}), n.get("rightExpression", {}))
                for x, y in (sides, sides[::-1]):
                    if x.get("nodeType") == "BinaryOperation" and x.get("operator") in (
                        "+",
                        "-",
                        "*",
                    ):
                        operands = {
                            self.src.text(x.get("leftExpression", {})),
                            self.src.text(x.get("rightExpression", {})),
                        }
                        if self.src.text(y) in operands:
                            out.add(x.get("id", -1))
        return out

    def approve_race(self) -> None:
        """SWC-114: ERC-20 approve overwrites a non-zero allowance."""
        for fn in self.fns:
            params = (fn.node.get("parameters") or {}).get("parameters", [])
            if fn.name != "approve" or len(params) != 2 or not fn.public:
                continue
            amount = params[1].get("id")
            writes = [
                n
                for n in walk(fn.node.get("body"))
                if n.get("nodeType") == "Assignment"
                and n.get("operator") == "="
                and (n.get("leftHandSide") or {}).get("nodeType") == "IndexAccess"
                and (
                    (n["leftHandSide"].get("baseExpression") or {}).get("nodeType") == "IndexAccess"
                )
                and amount in _refs(n.get("rightHandSide", {}))
            ]
            if not writes:
                continue
            if any("==0" in self.src.text(c) for _, c in fn.conditions):
                continue
            self._hit(
                fn.node,
                "front_running",
                "SWC-114",
                "low",
                "mingyue-erc20-approve-race",
                "approve overwrites the allowance: the spender can front-run the change",
            )
            for w in writes:
                self._hit(
                    w,
                    "front_running",
                    "SWC-114",
                    "low",
                    "mingyue-erc20-approve-race",
                    "allowance overwritten without requiring it to be zero first",
                )

    def tx_order_reward(self) -> None:
        """SWC-114: a payout of a state variable that a privileged function overwrites: a pending
        claim is paid whatever the variable holds when it is mined."""
        writers: dict[int, set[int]] = {}
        for fn in self.fns:
            if not fn.public or fn.constructor or fn.node.get("nodeType") != "FunctionDefinition":
                continue
            if not self._checks_caller(fn):
                continue
            for n in walk(fn.node.get("body")):
                if n.get("nodeType") == "Assignment" and n.get("operator") == "=":
                    lhs = n.get("leftHandSide") or {}
                    if (
                        lhs.get("nodeType") == "Identifier"
                        and lhs.get("referencedDeclaration") in self.state_vars
                    ):
                        writers.setdefault(lhs["referencedDeclaration"], set()).add(fn.node["id"])
        for fn in self.fns:
            if not fn.public or fn.constructor:
                continue
            for call, _recipient, amount in self._payments(fn):
                if not amount or amount.get("nodeType") != "Identifier" or not _int_type(amount):
                    continue
                ref = amount.get("referencedDeclaration")
                if not isinstance(ref, int):
                    continue
                var = self.state_vars.get(ref)
                if var is None or var.get("constant"):
                    continue
                if writers.get(ref, set()) - {fn.node["id"]} or (
                    writers.get(ref) and len(self._payers_of(ref)) > 1
                ):
                    self._hit(
                        call,
                        "front_running",
                        "SWC-114",
                        "medium",
                        "mingyue-tx-order-reward",
                        f"pays '{amount.get('name')}', which a privileged transaction can change first",
                    )

    def _payers_of(self, ref: int) -> set[int]:
        out = set()
        for fn in self.fns:
            for _call, _r, amount in self._payments(fn):
                if amount and amount.get("referencedDeclaration") == ref:
                    out.add(fn.node["id"])
        return out

    def hash_puzzle(self) -> None:
        """SWC-114: paying the caller for a preimage that the mempool reveals."""
        for fn in self.fns:
            if not fn.public:
                continue
            pays_caller = any(
                r is not None and is_member(r, "msg", "sender") for _c, r, _a in self._payments(fn)
            )
            if not pays_caller:
                continue
            for _, cond in fn.conditions:
                for n in walk(cond):
                    if n.get("nodeType") != "BinaryOperation" or n.get("operator") != "==":
                        continue
                    hashed = [
                        h
                        for h in walk(n)
                        if h.get("nodeType") == "FunctionCall" and called_name(h) in _HASHES
                    ]
                    if any(_refs(h) & fn.params for h in hashed):
                        self._hit(
                            cond,
                            "front_running",
                            "SWC-114",
                            "medium",
                            "mingyue-hash-puzzle",
                            "pays for a hash preimage: a watcher can copy the answer with more gas",
                        )

    def short_address(self) -> None:
        """DASP 9: address-then-amount public functions crediting the address, before 0.5.0."""
        if self.compiler >= (0, 5, 0):
            return
        reported: set[int] = set()
        for fn in self.fns:
            if not fn.public or fn.constructor or fn.node.get("nodeType") != "FunctionDefinition":
                continue
            params = (fn.node.get("parameters") or {}).get("parameters", [])
            types = [str(p.get("typeDescriptions", {}).get("typeString", "")) for p in params]
            addr_ids = [
                p["id"]
                for p, t in zip(params, types, strict=True)
                if t.startswith("address") and "[" not in t
            ]
            if not addr_ids:
                continue
            first_addr = types.index(
                next(t for t in types if t.startswith("address") and "[" not in t)
            )
            if not any(t.startswith("uint") and "[" not in t for t in types[first_addr + 1 :]):
                continue
            credits = any(
                n.get("nodeType") == "Assignment"
                and (n.get("leftHandSide") or {}).get("nodeType") == "IndexAccess"
                and _refs(n["leftHandSide"].get("indexExpression") or {}) & set(addr_ids)
                for n in walk(fn.node.get("body"))
            )
            if not credits:
                continue
            text = self.src.text(fn.node)
            mods = [
                self.ids.get((m.get("modifierName") or {}).get("referencedDeclaration", -1))
                for m in fn.node.get("modifiers") or []
            ]
            if "msg.data.length" in text or any(
                m and "msg.data.length" in self.src.text(m) for m in mods
            ):
                continue
            if id(fn.contract) in reported:
                continue  # one per contract: the remedy (a payload-size check) is contract-wide
            reported.add(id(fn.contract))
            self._hit(
                fn.node,
                "short_addresses",
                "",
                "low",
                "mingyue-short-address",
                "address before amount, compiled before 0.5.0 without a msg.data.length check",
            )

    def block_values(self) -> None:
        """SWC-120/116: block values hashed or taken modulo; timestamps returned or stored for checks."""
        derived: dict[int, tuple[str, Node]] = {}
        for n in walk(self.ast):
            t = n.get("nodeType")
            target_ids: list[int] = []
            value: Node | None = None
            if t == "VariableDeclaration" and isinstance(n.get("value"), dict):
                target_ids, value = [n["id"]], n["value"]
            elif t == "VariableDeclarationStatement" and isinstance(n.get("initialValue"), dict):
                target_ids = [d["id"] for d in n.get("declarations") or [] if isinstance(d, dict)]
                value = n["initialValue"]
            elif (
                t == "Assignment" and (n.get("leftHandSide") or {}).get("nodeType") == "Identifier"
            ):
                ref = n["leftHandSide"].get("referencedDeclaration")
                target_ids = [ref] if isinstance(ref, int) else []
                value = n.get("rightHandSide")
            if not value or not target_ids:
                continue
            kinds = {_block_kind(x) for x in walk(value)} - {None}
            kinds |= {derived[r][0] for r in _refs(value) if r in derived}
            if kinds:
                kind = "chain" if "chain" in kinds else "time"
                for tid in target_ids:
                    derived[tid] = (kind, n)
        statement_kind: dict[int, set[str]] = {}
        for st in walk(self.ast):
            if st.get("nodeType") in (
                "ExpressionStatement",
                "VariableDeclarationStatement",
                "Return",
                "VariableDeclaration",
            ):
                ks = {_block_kind(x) for x in walk(st)} - {None}
                ks |= {derived[r][0] for r in _refs(st) if r in derived}
                for x in walk(st):
                    statement_kind.setdefault(id(x), set()).update(k for k in ks if k)
        sinks: list[Node] = []
        for n in walk(self.ast):
            t = n.get("nodeType")
            if (t == "FunctionCall" and called_name(n) in _HASHES | {"blockhash"}) or (
                t == "BinaryOperation" and n.get("operator") == "%"
            ):
                sinks.append(n)
        used: dict[int, set[str]] = {}
        for s in sinks:
            sink_kinds = {k for k in (_block_kind(x) for x in walk(s)) if k}
            refs = _refs(s) & set(derived)
            sink_kinds |= {derived[r][0] for r in refs}
            if s.get("nodeType") == "FunctionCall" and called_name(s) == "blockhash":
                sink_kinds.add("chain")
            if not sink_kinds:
                continue
            sink_kinds |= statement_kind.get(id(s), set())
            for r in refs:
                used.setdefault(r, set()).update(sink_kinds)
            self._randomness_hit(s, sink_kinds)
        for ref, carried in used.items():
            kind, where = derived[ref]
            self._randomness_hit(where, carried | {kind})
        # timestamps a caller receives, or state that a later condition compares
        compared: set[int] = set()
        for fn in self.fns:
            for _, cond in fn.conditions:
                compared |= _refs(cond)
        for n in walk(self.ast):
            if (
                n.get("nodeType") == "BinaryOperation"
                and n.get("operator") in ("==", "!=")
                and any(_block_kind(x) == "time" for x in walk(n))
            ):
                self._hit(
                    n,
                    "time_manipulation",
                    "SWC-116",
                    "medium",
                    "mingyue-timestamp-state",
                    "compares the block timestamp for equality: the producer picks it",
                )
            if (
                n.get("nodeType") == "Return"
                and isinstance(n.get("expression"), dict)
                and any(_block_kind(x) == "time" for x in walk(n["expression"]))
            ):
                self._hit(
                    n,
                    "time_manipulation",
                    "SWC-116",
                    "low",
                    "mingyue-timestamp-state",
                    "returns the block timestamp, which the block producer sets",
                )
        for ref, (kind, where) in derived.items():
            if (
                kind == "time"
                and ref in self.state_vars
                and ref in compared
                and where.get("nodeType") == "Assignment"
            ):
                self._hit(
                    where,
                    "time_manipulation",
                    "SWC-116",
                    "low",
                    "mingyue-timestamp-state",
                    "stores the block timestamp for a later comparison",
                )

    def _randomness_hit(self, node: Node, kinds: set[str]) -> None:
        if "chain" in kinds:
            self._hit(
                node,
                "bad_randomness",
                "SWC-120",
                "medium",
                "mingyue-chain-randomness",
                "block values are known to the block producer: not a source of randomness",
            )
        else:
            self._hit(
                node,
                "time_manipulation",
                "SWC-116",
                "medium",
                "mingyue-timestamp-randomness",
                "the block timestamp is set by the block producer: not a source of randomness",
            )

    def unprotected_owner_write(self) -> None:
        """SWC-105/118: writes to access-control state from a function that checks no caller."""
        if not self.access_vars:
            return
        for fn in self.fns:
            if fn.node.get("nodeType") != "FunctionDefinition" or not fn.public:
                continue
            if fn.node.get("isConstructor") or fn.node.get("kind") == "constructor":
                continue
            same_name = (
                fn.name and fn.name == fn.contract.get("name") and self.compiler < (0, 4, 22)
            )
            if same_name:
                continue  # the real constructor before 0.4.22
            writes = [
                n
                for n in walk(fn.node.get("body"))
                if n.get("nodeType") == "Assignment"
                and (root_var(n.get("leftHandSide") or {}) or {}).get("referencedDeclaration")
                in self.access_vars
            ]
            if not writes or self._checks_caller(fn):
                continue
            self._hit(
                fn.node,
                "access_control",
                "SWC-105",
                "high",
                "mingyue-unprotected-owner-write",
                f"'{fn.name}' changes who is privileged, callable by anyone",
            )
            for w in writes:
                self._hit(
                    w,
                    "access_control",
                    "SWC-105",
                    "high",
                    "mingyue-unprotected-owner-write",
                    "privileged variable written without checking the caller",
                )

    def push_payment(self) -> None:
        """SWC-113: a reverting payment to a stored, unprivileged address blocks the function."""
        for fn in self.fns:
            for n in walk(fn.node.get("body")):
                if n.get("nodeType") != "FunctionCall":
                    continue
                target: Node | None = None
                name = called_name(n)
                if name in ("require", "assert"):
                    args = n.get("arguments") or []
                    inner = args[0] if args else {}
                    if inner.get("nodeType") == "FunctionCall" and called_name(inner) == "send":
                        target = inner
                elif name == "transfer":
                    expr = n.get("expression") or {}
                    t = str(
                        (expr.get("expression") or {})
                        .get("typeDescriptions", {})
                        .get("typeString", "")
                    )
                    if t.startswith("address"):
                        target = n
                if target is None:
                    continue
                recipient = (target.get("expression") or {}).get("expression") or {}
                if self._mentions_sender(recipient):
                    continue
                r = root_var(recipient)
                ref = r.get("referencedDeclaration") if r else None
                if ref not in self.state_vars or ref in self.access_vars:
                    continue
                if self.state_vars[ref].get("constant"):
                    continue
                self._hit(
                    n,
                    "denial_of_service",
                    "SWC-113",
                    "medium",
                    "mingyue-dos-push-payment",
                    "a payment that reverts on failure to a stored address: its owner can block this",
                )

    def unbounded_loop(self) -> None:
        """SWC-128: loops bounded by caller input or a growing array, writing storage or calling out."""
        growable: set[int] = set()
        for fn in self.fns:
            if not fn.public:
                continue
            for n in walk(fn.node.get("body")):
                if n.get("nodeType") == "FunctionCall" and called_name(n) == "push":
                    r = root_var((n.get("expression") or {}).get("expression") or {})
                    if r and r.get("referencedDeclaration") in self.state_vars:
                        growable.add(r["referencedDeclaration"])
        for fn in self.fns:
            if not fn.public:
                continue
            for n in walk(fn.node.get("body")):
                if n.get("nodeType") not in ("ForStatement", "WhileStatement"):
                    continue
                cond = n.get("condition") or {}
                by_arg = bool(_refs(cond) & fn.params)
                by_array = any(
                    x.get("nodeType") == "MemberAccess"
                    and x.get("memberName") == "length"
                    and (root_var(x.get("expression") or {}) or {}).get("referencedDeclaration")
                    in growable
                    for x in walk(cond)
                )
                if not (by_arg or by_array):
                    continue
                body = n.get("body") or {}
                effects = any(
                    (
                        x.get("nodeType") == "Assignment"
                        and (root_var(x.get("leftHandSide") or {}) or {}).get(
                            "referencedDeclaration"
                        )
                        in self.state_vars
                    )
                    or (
                        x.get("nodeType") == "FunctionCall"
                        and called_name(x) in _PAY | {"call", "value"}
                    )
                    for x in walk(body)
                )
                if effects:
                    self._hit(
                        n,
                        "denial_of_service",
                        "SWC-128",
                        "medium",
                        "mingyue-dos-unbounded-loop",
                        "loop bounded by caller input or a growing array: gas can run out for everyone",
                    )

    def array_length_write(self) -> None:
        """SWC-124 before 0.6: a caller shrinks or sets a dynamic array's length, so a later
        index write reaches any storage slot."""
        if self.compiler >= (0, 6, 0):
            return
        for fn in self.fns:
            if (
                not fn.public
                or fn.node.get("nodeType") != "FunctionDefinition"
                or self._checks_caller(fn)
            ):
                continue
            for n in walk(fn.node.get("body")):
                target: Node | None = None
                if n.get("nodeType") == "Assignment" and n.get("operator") in ("=", "-="):
                    target = n.get("leftHandSide")
                elif n.get("nodeType") == "UnaryOperation" and n.get("operator") == "--":
                    target = n.get("subExpression")
                if (
                    not target
                    or target.get("nodeType") != "MemberAccess"
                    or target.get("memberName") != "length"
                ):
                    continue
                r = root_var(target.get("expression") or {})
                if r and r.get("referencedDeclaration") in self.state_vars:
                    self._hit(
                        n,
                        "access_control",
                        "SWC-124",
                        "high",
                        "mingyue-array-length-write",
                        "a caller can shrink this array's length and then write any storage slot",
                    )

    def privileged_payment_lines(self) -> set[int]:
        """Lines paying a privileged, fixed recipient (owner-like state variables)."""
        out: set[int] = set()
        for fn in self.fns:
            for call, recipient, _amount in self._payments(fn):
                r = root_var(recipient or {})
                if r is not None and r.get("referencedDeclaration") in self.access_vars:
                    out.add(self.src.line(call))
        return out


def analyse(ast: Node, text: str, compiler: Version) -> list[RuleHit]:
    """Run our rules on one compiled source unit."""
    return Analysis(ast, text, compiler).run()
