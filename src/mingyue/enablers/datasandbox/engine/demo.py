"""Demo data: a generated enterprise register and tax/credit table keyed by valid USCCs, fused with
a real public dataset shipped inside scikit-learn (the diabetes study of Efron et al., 2004,
``sklearn.datasets.load_diabetes(scaled=False)``: 442 patients, age, sex, BMI, blood pressure,
six serum measurements and disease progression after one year).
"""

from __future__ import annotations

import csv
import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

from . import uscc
from .datasets import DatasetSpec

DISTRICTS = {
    "500112": "渝北区",
    "500105": "江北区",
    "500109": "北碚区",
    "500106": "沙坪坝区",
    "500103": "渝中区",
    "500108": "南岸区",
}
# GB/T 4754-2017 sections (门类) most common in Liangjiang New Area.
INDUSTRIES = [
    "制造业",
    "软件和信息技术服务业",
    "批发和零售业",
    "科学研究和技术服务业",
    "租赁和商务服务业",
    "建筑业",
]
KINDS = ["科技", "实业", "信息技术", "贸易", "智能制造", "生物医药", "新材料"]
RATINGS = ["A", "B", "M", "C", "D"]  # 纳税信用级别 (STA announcement 2014 No. 48)


@dataclass(frozen=True)
class DemoFiles:
    """Paths of the generated CSV files and the owner declarations that go with them."""

    enterprises: Path
    tax_credit: Path
    patients: Path
    specs: dict[str, DatasetSpec]


def generate(dest: Path | str, *, n_enterprises: int = 600, seed: int = 7) -> DemoFiles:
    """Write the demo CSV files into ``dest`` and return their paths and dataset specs."""
    from faker import Faker  # lazy: datasandbox extra, heavy
    from sklearn.datasets import load_diabetes  # lazy: datasandbox extra, heavy

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)  # noqa: S311  (synthetic data, not secrets)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    codes: list[str] = []
    seen: set[str] = set()
    while len(codes) < n_enterprises:
        div = rng.choice(list(DISTRICTS))
        code = uscc.generate(rng, div)
        if code not in seen:
            seen.add(code)
            codes.append(code)
    names: list[str] = []
    used: set[str] = set()
    for _ in codes:
        name = f"重庆{fake.company_prefix()}{rng.choice(KINDS)}有限公司"
        while name in used:
            name = f"重庆{fake.company_prefix()}{fake.company_prefix()}{rng.choice(KINDS)}有限公司"
        used.add(name)
        names.append(name)
    ent_path = dest / "enterprises.csv"
    with ent_path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "uscc",
                "name",
                "district",
                "industry",
                "registered_capital",
                "founded",
                "employees",
                "sme",
            ]
        )
        for code, name in zip(codes, names, strict=True):
            employees = max(1, int(rng.lognormvariate(3.2, 1.1)))
            w.writerow(
                [
                    code,
                    name,
                    DISTRICTS[code[2:8]],
                    rng.choice(INDUSTRIES),
                    int(rng.lognormvariate(6.5, 1.2)),
                    rng.randint(1995, 2025),
                    employees,
                    int(employees < 300),
                ]
            )
    tax_path = dest / "tax_credit.csv"
    with tax_path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["uscc", "year", "tax_paid", "credit_rating", "invoices"])
        for code in codes:
            for year in (2024, 2025):
                w.writerow(
                    [
                        code,
                        year,
                        round(rng.lognormvariate(4.0, 1.3), 2),
                        rng.choices(RATINGS, weights=[40, 30, 15, 10, 5])[0],
                        int(rng.lognormvariate(5, 1)),
                    ]
                )
    data = load_diabetes(scaled=False)
    pat_path = dest / "patients.csv"
    with pat_path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        names = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
        w.writerow(["person_hash", "employer_uscc", *names, "progression"])
        for i, (row, target) in enumerate(zip(data.data, data.target, strict=True)):
            person = hashlib.sha256(f"demo-person-{seed}-{i}".encode()).hexdigest()[:32]
            w.writerow([person, rng.choice(codes), *[round(float(v), 4) for v in row], int(target)])
    specs = {
        "enterprises": DatasetSpec(
            "enterprises",
            identifiers=["uscc"],
            quasi=["name"],
            bounds={"registered_capital": (0, 20000), "employees": (0, 2000)},
        ),
        "tax_credit": DatasetSpec(
            "tax_credit",
            identifiers=["uscc"],
            sensitive=["tax_paid", "credit_rating"],
            bounds={"tax_paid": (0, 1000)},
        ),
        "patients": DatasetSpec(
            "patients",
            identifiers=["person_hash", "employer_uscc"],
            quasi=["age", "sex"],
            sensitive=["progression"],
            bounds={"progression": (0, 400), "bmi": (10, 50)},
        ),
    }
    return DemoFiles(ent_path, tax_path, pat_path, specs)
