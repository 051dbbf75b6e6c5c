"""Benchmark: Chinese PII detection, mingyue vs Microsoft Presidio running the same recognizers.

Builds a labelled corpus with Faker zh_CN (valid identifiers plus decoys with wrong check digits,
Luhn-failing card numbers and random order numbers), then reports per-type precision / recall / F1
(exact type + span) and throughput in MB/s (UTF-8 bytes) for:
  - mingyue's pattern engine, per sentence and on one whole document;
  - Presidio AnalyzerEngine with mingyue's PatternRecognizers (same regexes and validators), with an
    offline blank ``zh`` spaCy pipeline, per sentence and on a whole document (smaller: it slows
    down super-linearly);
  - the NER backends (hybrid, jiagu, jieba POS) on person / place / organisation spans, through
    the combined detector on these sentences, and on the MSRA NER test split when
    scripts/crossborder-setup.sh has put it in ~/.cache/mingyue/ner-eval (bench/ner_eval.py).

Usage: .venv/bin/python bench/pii_detect.py [--sentences 2000] [--seed 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from faker import Faker

from mingyue.enablers.crossborder.engine.checksums import (
    id_check_char,
    luhn_complete,
    luhn_valid,
    uscc_check_char,
)
from mingyue.enablers.crossborder.engine.pii import PiiDetector

Gold = list[tuple[str, int, int]]
CHECKSUM_TYPES = ("CN_RESIDENT_ID", "CN_USCC", "BANK_CARD")
NER_TYPES = ("PERSON", "LOCATION", "ORGANIZATION")
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _org_code(rng: random.Random) -> str:
    body = "".join(rng.choice(string.digits + "ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    check = 11 - sum(int(c, 36) * w for c, w in zip(body, weights, strict=True)) % 11
    return body + ("X" if check == 10 else "0" if check == 11 else str(check))


class Corpus:
    """Labelled sentences: text plus gold (type, start, end) spans."""

    def __init__(self, n: int, seed: int) -> None:
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(seed)
        self.rng = random.Random(seed)
        self.sentences: list[tuple[str, Gold]] = [self._sentence() for _ in range(n)]

    def _uscc(self, valid: bool = True) -> str:
        area = self.fake.ssn()[:6]
        first = "91" + area + _org_code(self.rng)
        check = uscc_check_char(first)
        if not valid:
            check = self.rng.choice([c for c in _USCC_CHARS if c != check])
        return first + check

    def _items(self) -> list[tuple[str, str | None, str]]:
        """(prefix words, gold type or None for a decoy, value)."""
        f, r = self.fake, self.rng
        ssn = f.ssn()
        bad_ssn = ssn[:17] + r.choice([c for c in "0123456789X" if c != id_check_char(ssn[:17])])
        card = luhn_complete("62" + "".join(r.choice(string.digits) for _ in range(16)))
        bad_card = card[:-1] + str((int(card[-1]) + r.randint(1, 9)) % 10)
        order = "".join(r.choice(string.digits) for _ in range(18))
        plate = f.license_plate()
        if r.random() < 0.5:
            plate = plate.replace("-", "")
        pool = [
            ("身份证号码", "CN_RESIDENT_ID", ssn),
            ("证件号", "CN_RESIDENT_ID_LIKE", bad_ssn),
            ("手机", "CN_MOBILE", f.phone_number()),
            ("银行卡号", "BANK_CARD", card),
            ("收款", "BANK_CARD", card),
            ("卡号", None, bad_card),
            ("订单号", None, order if not luhn_valid(order) else order[:-1] + "0"),
            ("统一社会信用代码", "CN_USCC", self._uscc()),
            ("信用代码", None, self._uscc(valid=False)),
            ("护照号码", "CN_PASSPORT", "E" + "".join(r.choice(string.digits) for _ in range(8))),
            ("港澳通行证", "HK_MACAU_PERMIT",
             "C" + r.choice("ABCDEFGHJKLMN") + "".join(r.choice(string.digits) for _ in range(7))),
            ("车牌", "CN_LICENSE_PLATE", plate),
            ("邮箱", "EMAIL", f.email()),
            ("登录IP ", "IP_ADDRESS", f.ipv4()),
            ("来源地址 ", "IP_ADDRESS", f.ipv6()),
        ]  # fmt: skip
        return r.sample(pool, r.randint(1, 3))

    def _sentence(self) -> tuple[str, Gold]:
        f = self.fake
        parts: list[str] = []
        gold: Gold = []
        pos = 0

        def put(text: str, type_: str | None = None) -> None:
            nonlocal pos
            if type_:
                gold.append((type_, pos, pos + len(text)))
            parts.append(text)
            pos += len(text)

        put(f.name(), "PERSON")
        put("在")
        put(f.province() + f.city(), "LOCATION")
        put("的")
        put(f.company(), "ORGANIZATION")
        put("登记，")
        for prefix, type_, value in self._items():
            put(prefix)
            put(value, type_)
            put("，")
        put(f.sentence())
        # A checked decoy: its gold type is a lower-confidence "ID-like" hit, never CN_RESIDENT_ID.
        return "".join(parts), gold


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def score(
    pred: Iterable[Gold], gold: Iterable[Gold], types: Iterable[str]
) -> dict[str, dict[str, float]]:
    """Exact (type, start, end) matching per type."""
    wanted = set(types)
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for p_list, g_list in zip(pred, gold, strict=True):
        ps = {x for x in p_list if x[0] in wanted}
        gs = {x for x in g_list if x[0] in wanted}
        for x in ps & gs:
            tp[x[0]] += 1
        for x in ps - gs:
            fp[x[0]] += 1
        for x in gs - ps:
            fn[x[0]] += 1
    out = {}
    for t in sorted(wanted):
        p, r, f1 = prf(tp[t], fp[t], fn[t])
        out[t] = {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4),
                  "support": tp[t] + fn[t], "tp": tp[t], "fp": fp[t], "fn": fn[t]}  # fmt: skip
    return out


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sentences", type=int, default=2000)
    ap.add_argument(
        "--doc-sentences", type=int, default=200, help="whole-document size for Presidio"
    )
    ap.add_argument("--ner-sentences", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--no-presidio", action="store_true")
    ap.add_argument("--no-ner", action="store_true", help="the pattern path only")
    ap.add_argument(
        "--dense-rows", type=int, default=5000, help="rows of the dense identifier table"
    )
    ap.add_argument("--msra-sentences", type=int, default=0, help="MSRA test sentences (0: all)")
    args = ap.parse_args()

    corpus = Corpus(args.sentences, args.seed)
    texts = [t for t, _ in corpus.sentences]
    golds = [g for _, g in corpus.sentences]
    nbytes = sum(len(t.encode()) for t in texts)
    pattern_types = sorted({x[0] for g in golds for x in g} - set(NER_TYPES))
    det = PiiDetector()
    report: dict[str, object] = {"sentences": len(texts), "bytes": nbytes,
                                 "entities_per_kb": round(sum(len(g) for g in golds) / nbytes * 1024, 2)}  # fmt: skip

    ours_pred = [[(e.type, e.start, e.end) for e in det.detect(t)] for t in texts]
    ours_q = score(ours_pred, golds, pattern_types)
    t_sent = timed(lambda: [det.detect(t) for t in texts], 3)
    doc = "\n".join(texts)
    t_doc = timed(lambda: det.detect(doc), 3)
    # A sparse document (one identifier per ~2 KB of prose), closer to real files than the corpus.
    filler = "".join(corpus.fake.paragraph(nb_sentences=20) for _ in range(50))
    sparse = "\n".join(filler[:2000] + t for t in texts[:500])
    t_sparse = timed(lambda: det.detect(sparse), 3)
    ours = {
        "quality": ours_q,
        "mb_s_per_sentence": round(nbytes / t_sent / 1e6, 2),
        "mb_s_whole_document": round(len(doc.encode()) / t_doc / 1e6, 2),
        "mb_s_sparse_document": round(len(sparse.encode()) / t_sparse / 1e6, 2),
    }
    # A dense table (a CSV export, most cells an identifier or a decoy): here the cost is checking
    # each candidate, not finding it.
    rows = [",".join([corpus.fake.name()] + [v for _ in range(3) for _p, _t, v in corpus._items()])
            for _ in range(args.dense_rows)]  # fmt: skip
    table = "\n".join(rows)
    t_table = timed(lambda: det.detect(table), 3)
    ours["mb_s_dense_table"] = round(len(table.encode()) / t_table / 1e6, 2)
    ours["dense_table_hits_per_kb"] = round(len(det.detect(table)) / len(table.encode()) * 1024, 1)
    report["mingyue"] = ours

    if not args.no_presidio:
        from mingyue.enablers.crossborder.adapters.presidio import build_analyzer

        analyzer = build_analyzer("patterns")
        analyzer.analyze("预热 13800138000", language="zh")
        pres_pred: list[Gold] = []
        t0 = time.perf_counter()
        for t in texts:
            pres_pred.append(
                [(r.entity_type, r.start, r.end) for r in analyzer.analyze(t, language="zh")]
            )
        t_pres = time.perf_counter() - t0
        small = "\n".join(texts[: args.doc_sentences])
        t_pres_doc = timed(lambda: analyzer.analyze(small, language="zh"))
        t_ours_small = timed(lambda: det.detect(small), 3)
        spans = Counter((i, s, e) for i, p in enumerate(pres_pred) for _, s, e in p)
        report["presidio"] = {
            "quality": score(pres_pred, golds, pattern_types),
            "mb_s_per_sentence": round(nbytes / t_pres / 1e6, 3),
            "mb_s_whole_document": round(len(small.encode()) / t_pres_doc / 1e6, 4),
            "document_sentences": args.doc_sentences,
            "spans_reported_under_two_types": sum(1 for n in spans.values() if n > 1),
        }
        report["ratio_per_sentence"] = round(t_pres / t_sent, 1)
        report["ratio_whole_document"] = round(t_pres_doc / t_ours_small, 1)
        few = rows[:500]  # Presidio row by row (it slows down on one long text)
        t_pres_rows = timed(lambda: [analyzer.analyze(r, language="zh") for r in few])
        t_ours_rows = timed(lambda: [det.detect(r) for r in few], 3)
        report["presidio"]["mb_s_dense_rows"] = round(  # type: ignore[index]
            sum(len(r.encode()) for r in few) / t_pres_rows / 1e6, 3
        )
        report["ratio_dense_rows"] = round(t_pres_rows / t_ours_rows, 1)

    if args.no_ner:
        _print(report)
        return
    from mingyue.enablers.crossborder.engine.ner import BACKENDS, make_ner

    ner_report = {}
    sub = corpus.sentences[: args.ner_sentences]
    for name in BACKENDS:
        ner = make_ner(name)
        ner.entities("预热")
        combined = PiiDetector(ner=ner)  # the product path: pattern hits win over NER on overlap
        t0 = time.perf_counter()
        pred = [
            [(e.type, e.start, e.end) for e in combined.detect(t) if e.type in NER_TYPES]
            for t, _ in sub
        ]
        dt = time.perf_counter() - t0
        q = score(pred, [g for _, g in sub], NER_TYPES)
        macro = sum(v["f1"] for v in q.values()) / len(q)
        ner_report[name] = {"quality": q, "macro_f1": round(macro, 4),
                            "mb_s": round(sum(len(t.encode()) for t, _ in sub) / dt / 1e6, 3)}  # fmt: skip
    report["ner"] = ner_report
    report["ner_choice"] = max(ner_report, key=lambda k: ner_report[k]["macro_f1"])  # type: ignore[index]
    import ner_eval

    msra = ner_eval.EVAL_DIR / "msra_test.txt"
    if msra.is_file():
        test = ner_eval.load_tagged(msra)
        report["ner_msra"] = ner_eval.run(
            {"msra_test": test[: args.msra_sentences] if args.msra_sentences else test},
            ["hybrid", "hybrid-split", "jiagu", "jieba"],
        )["msra_test"]

    _print(report)
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")


def _print(report: dict[str, object]) -> None:
    print(f"corpus: {report['sentences']} sentences, {report['bytes']} bytes, "
          f"{report['entities_per_kb']} labelled entities per KB")  # fmt: skip
    ours = report["mingyue"]
    pres = report.get("presidio")
    print(f"{'type':22} {'mingyue P/R/F1':>24} {'presidio P/R/F1':>24}  support")

    def cell(x: Any) -> str:
        return f"{x['precision']:.3f}/{x['recall']:.3f}/{x['f1']:.3f}"

    for t, q in ours["quality"].items():  # type: ignore[index]
        pq = pres["quality"][t] if pres else None  # type: ignore[index]
        print(f"{t:22} {cell(q):>24} {cell(pq) if pq else '-':>24}  {q['support']}")
    print(
        f"mingyue MB/s: per sentence {ours['mb_s_per_sentence']}, whole document "  # type: ignore[index]
        f"{ours['mb_s_whole_document']}, sparse document {ours['mb_s_sparse_document']}, "  # type: ignore[index]
        f"dense table {ours['mb_s_dense_table']} ({ours['dense_table_hits_per_kb']} hits/KB)"
    )  # type: ignore[index]
    if pres:
        print(
            f"presidio MB/s: per sentence {pres['mb_s_per_sentence']}, whole document "  # type: ignore[index]
            f"({pres['document_sentences']} sentences) {pres['mb_s_whole_document']}; "  # type: ignore[index]
            f"spans under two types: {pres['spans_reported_under_two_types']}"
        )  # type: ignore[index]
        print(
            f"ratio mingyue/presidio: per sentence {report['ratio_per_sentence']}x, "
            f"whole document {report['ratio_whole_document']}x, dense table rows "
            f"{report['ratio_dense_rows']}x (presidio {pres['mb_s_dense_rows']} MB/s)"
        )  # type: ignore[index]
    for name, r in report.get("ner", {}).items():  # type: ignore[attr-defined]
        fs = ", ".join(f"{t} {v['f1']:.3f}" for t, v in r["quality"].items())
        print(f"NER {name}: macro F1 {r['macro_f1']:.3f} ({fs}); {r['mb_s']} MB/s")
    if "ner_choice" in report:
        print(f"NER choice by F1: {report['ner_choice']}")
    if "ner_msra" in report:
        import ner_eval

        ner_eval.print_report({"MSRA test split": report["ner_msra"]})


if __name__ == "__main__":
    main()
