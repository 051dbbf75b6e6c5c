"""CLI: `mingyue datasandbox dataset add|list`, `query` (refusal exits 3), `budget`, `verify`."""

from __future__ import annotations

import csv
from typing import Any


def test_cli_flow(cli: Any, tenants: Any, demo_files: Any) -> None:
    owner, bank = tenants.a.admin.username, tenants.b.member.username
    r = cli(
        "datasandbox",
        "dataset",
        "add",
        str(demo_files.enterprises),
        "--name",
        "enterprises",
        "--identifier",
        "uscc",
        "--quasi",
        "name",
        "--min-group",
        "5",
        "--epsilon-per-period",
        "1",
        "--open-to",
        "all",
        "--bound",
        "employees=0:5000",
        "--as",
        owner,
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    assert r.json()["name"] == "enterprises" and r.json()["rows_rounded"] == 400
    emp = next(c for c in r.json()["columns"] if c["name"] == "employees")
    assert emp["bounds"] == [0.0, 5000.0]
    r = cli("datasandbox", "dataset", "list", "--as", bank, "--json")
    assert r.exit_code == 0 and [d["name"] for d in r.json()] == ["enterprises"]
    r = cli(
        "datasandbox",
        "query",
        "--dataset",
        "enterprises",
        "--sql",
        "SELECT district, count(*) AS n FROM enterprises GROUP BY district",
        "--epsilon",
        "0.5",
        "--as",
        bank,
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    out = r.json()
    assert out["status"] == "released" and out["reason"] is None
    assert out["epsilon_spent"] == 0.5 and abs(out["epsilon_left"] - 0.5) < 1e-9
    assert out["rows"] and set(out["rows"][0]) == {"district", "n"}
    r = cli(
        "datasandbox",
        "query",
        "--dataset",
        "enterprises",
        "--sql",
        "SELECT * FROM enterprises",
        "--as",
        bank,
        "--json",
    )
    assert r.exit_code == 3 and r.json()["status"] == "refused"
    assert r.json()["rule"] == "sql.select_star" and r.json()["rows"] == []
    r = cli(
        "datasandbox",
        "query",
        "--dataset",
        "enterprises",
        "--sql",
        "SELECT count(*) FROM enterprises",
        "--epsilon",
        "0.6",
        "--as",
        bank,
        "--json",
    )
    assert r.exit_code == 3 and r.json()["rule"] == "budget.exhausted"
    r = cli("datasandbox", "budget", "--as", bank, "--json")
    assert r.exit_code == 0 and r.json()[0]["left"] == 0.5
    with open(demo_files.enterprises, encoding="utf-8") as f:
        code = next(csv.DictReader(f))["uscc"]
    r = cli(
        "datasandbox",
        "verify",
        "--dataset",
        "enterprises",
        "--predicate",
        "employees >= 0",
        "--id",
        code,
        "--id",
        "9144030071526726XA",
        "--as",
        bank,
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    rows = r.json()["rows"]
    assert rows[0] == {"id": code, "match": True} and rows[1]["invalid"] is True


def test_cli_errors(cli: Any, tenants: Any, tmp_path: Any) -> None:
    user = tenants.a.admin.username
    r = cli(
        "datasandbox", "dataset", "add", str(tmp_path / "missing.csv"), "--name", "x", "--as", user
    )
    assert r.exit_code == 2
    bad = tmp_path / "t.csv"
    bad.write_text("pid,v\na,1\n")
    r = cli(
        "datasandbox",
        "dataset",
        "add",
        str(bad),
        "--name",
        "x",
        "--identifier",
        "nope",
        "--as",
        user,
    )
    assert r.exit_code == 2 and "dataset.unknown_column" in r.stderr
    r = cli("datasandbox", "query", "--sql", "SELECT count(*) FROM nothing", "--as", user)
    assert r.exit_code == 3
    r = cli(
        "datasandbox", "dataset", "add", str(bad), "--name", "y", "--bound", "v=oops", "--as", user
    )
    assert r.exit_code == 2 and "COL=LOW:HIGH" in r.stderr


def test_cli_train(cli: Any, tenants: Any, demo_files: Any) -> None:
    owner, lab = tenants.a.admin.username, tenants.b.member.username
    r = cli(
        "datasandbox",
        "dataset",
        "add",
        str(demo_files.patients),
        "--name",
        "patients",
        "--identifier",
        "person_hash",
        "--identifier",
        "employer_uscc",
        "--quasi",
        "age",
        "--epsilon-per-period",
        "6",
        "--open-to",
        "all",
        "--as",
        owner,
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    r = cli(
        "datasandbox",
        "train",
        "--dataset",
        "patients",
        "--template",
        "dp_linear_regression",
        "--feature",
        "age",
        "--feature",
        "bmi",
        "--target",
        "progression",
        "--epsilon",
        "2",
        "--as",
        lab,
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    out = r.json()
    assert out["status"] == "released" and out["epsilon_spent"] == 2.0
    assert set(out["model"]["metrics"]) == {"r2", "rmse"}
    r = cli(
        "datasandbox",
        "train",
        "--dataset",
        "patients",
        "--template",
        "nearest_neighbors",
        "--feature",
        "age",
        "--target",
        "progression",
        "--as",
        lab,
        "--json",
    )
    assert r.exit_code == 3 and r.json()["rule"] == "train.template_not_allowed"


def test_cli_verify_psi(cli: Any, tenants: Any, demo_files: Any) -> None:
    owner, bank = tenants.a.admin.username, tenants.b.member.username
    assert (
        cli(
            "datasandbox",
            "dataset",
            "add",
            str(demo_files.enterprises),
            "--name",
            "enterprises",
            "--identifier",
            "uscc",
            "--open-to",
            "all",
            "--as",
            owner,
        ).exit_code
        == 0
    )
    with open(demo_files.enterprises, encoding="utf-8") as f:
        codes = [r["uscc"] for r in csv.DictReader(f)][:5]
    args = [a for c in codes for a in ("--id", c)]
    r = cli(
        "datasandbox",
        "verify",
        "--dataset",
        "enterprises",
        "--predicate",
        "employees >= 0",
        *args,
        "--psi",
        "--as",
        bank,
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    assert r.json()["count"] == 5


def test_cli_owner_decides_in_a_case(cli: Any, tenants: Any, demo_files: Any) -> None:
    owner, bank = tenants.a.admin.username, tenants.b.member.username
    assert (
        cli(
            "datasandbox",
            "dataset",
            "add",
            str(demo_files.tax_credit),
            "--name",
            "tax_credit",
            "--identifier",
            "uscc",
            "--min-group",
            "5",
            "--epsilon-per-period",
            "0",
            "--as",
            owner,
        ).exit_code
        == 0
    )
    sql = "SELECT credit_rating, count(*) AS n FROM tax_credit GROUP BY credit_rating"
    r = cli("datasandbox", "query", "--sql", sql, "--as", bank, "--json")
    assert r.exit_code == 0 and r.json()["status"] == "pending_approval", r.stderr
    request_id = r.json()["id"]
    # The refusal before it is on record although the command exited 3.
    r = cli("datasandbox", "query", "--sql", "SELECT * FROM tax_credit", "--as", bank, "--json")
    assert r.exit_code == 3 and r.json()["status"] == "refused" and r.json()["epsilon_spent"] == 0
    r = cli("datasandbox", "requests", "--as", bank, "--json")
    assert [x["status"] for x in r.json()] == ["refused", "pending_approval"]
    r = cli("cases", "list", "--kind", "datasandbox.approval", "--as", owner, "--json")
    assert [c["subject"] for c in r.json()] == [f"datasandbox_request:{request_id}"]
    case_id = r.json()[0]["id"]
    r = cli("cases", "act", str(case_id), "approve", "--as", bank)
    assert r.exit_code != 0
    r = cli("cases", "act", str(case_id), "approve", "--as", owner, "--json")
    assert r.exit_code == 0 and r.json()["state"] == "approved", r.stderr
    assert cli("jobs", "run-pending").exit_code == 0
    r = cli("datasandbox", "requests", "--as", bank, "--json")
    assert r.json()[1]["status"] == "released" and sum(x["n"] for x in r.json()[1]["rows"]) == 800
