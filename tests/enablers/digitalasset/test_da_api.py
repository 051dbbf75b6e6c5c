"""The product through its API: register → review → certificate → collection → issue → sale →
refusals by rule (holding period, unverified buyer, token pricing, fractions, order book) →
regulator (identity, trace, freeze, pause) → evidence; the two-tenant walk; every step on the
embedded chain (py-evm through web3 + eth-tester)."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

from mingyue.core import clock
from mingyue.enablers.digitalasset.engine import evidence_verify

WORK = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # a work's bytes (content is opaque here)
RIGHTS = "著作权归上海明月文创有限公司所有；授权平台展示与发行数字藏品，不含改编权。"


def _register(
    client: Any, headers: dict[str, str], data: bytes = WORK, title: str = "明月图"
) -> dict[str, Any]:
    r = client.post(
        "/api/digitalasset/works",
        data={"title": title, "kind": "image", "creator_name": "李白", "rights_statement": RIGHTS},
        files={"file": ("moon.png", data, "image/png")},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


def _approve(client: Any, tenants: Any, work_id: int) -> dict[str, Any]:
    reviewer = tenants.operator.headers()
    for step in ("review", "approve"):
        r = client.post(
            f"/api/digitalasset/works/{work_id}/decision", json={"action": step}, headers=reviewer
        )
        assert r.status_code == 200, r.text
    return r.json()


def _kyc(client: Any, tenants: Any, account_id: int, name: str) -> None:
    r = client.post(
        f"/api/digitalasset/accounts/{account_id}/kyc",
        json={"real_name": name, "level": 2},
        headers=tenants.operator.headers(),
    )
    assert r.status_code == 200, r.text


def _issued(client: Any, tenants: Any) -> dict[str, Any]:
    ha = tenants.a.headers(admin=True)
    work = _register(client, ha)
    assert len(work["sha256"]) == 64 and len(work["sm3"]) == 64
    assert work["review_status"] == "submitted" and work["creator_did"].startswith("did:web:")
    approved = _approve(client, tenants, work["id"])
    assert approved["review_status"] == "approved" and approved["certificate_id"]
    r = client.post(
        "/api/digitalasset/collections",
        json={"standard": "erc721", "name": "明月集", "symbol": "MOON", "cap": 10},
        headers=ha,
    )
    assert r.status_code == 201, r.text
    collection = r.json()
    r = client.post(
        "/api/digitalasset/tokens",
        json={"collection_id": collection["id"], "work_id": work["id"], "price_cny": "99.00"},
        headers=ha,
    )
    assert r.status_code == 201, r.text
    return {"work": work, "collection": collection, "token": r.json()}


def test_issue_sell_refuse_supervise(client, tenants) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    with clock.frozen(start):
        done = _issued(client, tenants)
        token = done["token"]
        ha, hb = tenants.a.headers(admin=True), tenants.b.headers()
        buyer = client.post(
            "/api/digitalasset/accounts", json={"signer": "keystore"}, headers=hb
        ).json()
        again = client.post(
            "/api/digitalasset/accounts", json={"signer": "keystore"}, headers=hb
        ).json()
        assert again["id"] == buyer["id"]  # one custody account per user
        assert "keystore" not in buyer and buyer["address"].startswith("0x")

        sale = {
            "token": token["id"],
            "to_address": buyer["address"],
            "mode": "sale",
            "price": "99.00",
            "currency": "CNY",
            "from_issuer": True,
        }
        # The buyer is not real-name verified yet: rule 5 of the 2022 initiative refuses.
        r = client.post("/api/digitalasset/transfers", json=sale, headers=ha)
        assert r.status_code == 403, r.text
        assert r.json()["rule"] == "CN-NFT-2022-5"
        assert "第五条" in r.json()["citation"]["zh"]
        _kyc(client, tenants, buyer["id"], "杜甫")
        # Priced in a token: rule 4 refuses (recorded, not sent to the chain).
        r = client.post(
            "/api/digitalasset/transfers", json={**sale, "currency": "USDT"}, headers=ha
        )
        assert r.status_code == 403 and r.json()["rule"] == "CN-NFT-2022-4"
        r = client.post(
            "/api/digitalasset/transfers", json={**sale, "mode": "order_book"}, headers=ha
        )
        assert r.status_code == 403 and r.json()["rule"] == "CN-NFT-2022-3"
        r = client.post("/api/digitalasset/transfers", json={**sale, "quantity": "0.5"}, headers=ha)
        assert r.status_code == 403 and r.json()["rule"] == "CN-NFT-2022-2"
        r = client.post("/api/digitalasset/transfers", json=sale, headers=ha)
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "done" and r.json()["tx_hash"].startswith("0x")
        held = client.get("/api/digitalasset/holdings", params={"mine": True}, headers=hb).json()
        assert [h["token_ref"] for h in held] == [token["id"]]

        # The holder gives it on at once: the holding period (180 days) refuses.
        other = client.post(
            "/api/digitalasset/accounts", json={"signer": "keystore"}, headers=tenants.a.headers()
        ).json()
        _kyc(client, tenants, other["id"], "王维")
        gift = {"token": token["id"], "to_address": other["address"], "mode": "gift"}
        r = client.post("/api/digitalasset/transfers", json=gift, headers=hb)
        assert r.status_code == 403 and r.json()["rule"] == "SANDBOX-HOLD"
        refused = client.get(
            "/api/digitalasset/transfers", params={"status": "refused"}, headers=hb
        )
        assert [t["rule_id"] for t in refused.json()] == ["SANDBOX-HOLD"]

        # Regulator: who is behind the address; freeze the token; trace it.
        reg = tenants.regulator.headers()
        r = client.get(
            f"/api/digitalasset/identity/{buyer['address']}",
            params={"reason": "可疑交易核查"},
            headers=reg,
        )
        assert r.status_code == 200 and r.json()["real_name"] == "杜甫"
        assert r.json()["did"].endswith(buyer["address"])
        assert (
            client.get(
                f"/api/digitalasset/identity/{buyer['address']}", params={"reason": "x"}, headers=hb
            ).status_code
            == 403
        )
        r = client.post(
            f"/api/digitalasset/tokens/{token['id']}/freeze",
            json={"on": True, "reason": "涉嫌洗售"},
            headers=reg,
        )
        assert r.status_code == 200 and r.json()["frozen"] is True
        clock.advance(timedelta(days=181))
        r = client.post("/api/digitalasset/transfers", json=gift, headers=hb)
        assert r.status_code == 403 and r.json()["key"] == "digitalasset.transfer.frozen"
        client.post(
            f"/api/digitalasset/tokens/{token['id']}/freeze",
            json={"on": False, "reason": "核查完毕"},
            headers=reg,
        )
        r = client.post(
            f"/api/digitalasset/collections/{done['collection']['id']}/pause",
            json={"on": True, "reason": "沙盒暂停"},
            headers=reg,
        )
        assert r.status_code == 200 and r.json()["paused"] is True
        client.post(
            f"/api/digitalasset/collections/{done['collection']['id']}/pause",
            json={"on": False, "reason": "恢复"},
            headers=reg,
        )
        r = client.post("/api/digitalasset/transfers", json=gift, headers=hb)
        assert r.status_code == 201, r.text  # after 181 days, unfrozen, resumed
        trace = client.get(f"/api/digitalasset/tokens/{token['id']}/trace", headers=reg).json()
        kinds = [(s["kind"], s["status"]) for s in trace["steps"]]
        assert kinds.count(("mint", "on_chain")) == 1 and kinds.count(("transfer", "on_chain")) == 2
        assert ("transfer", "refused") in kinds
        assert [h["address"] for h in trace["holders"]] == [other["address"]]

        # Another enterprise sees none of the issuer's records: 404, never 403.
        hb_admin = tenants.b.headers(admin=True)
        for url in (
            f"/api/digitalasset/works/{done['work']['id']}",
            f"/api/digitalasset/tokens/{token['id']}",
            f"/api/digitalasset/accounts/{other['id']}",
        ):
            assert client.get(url, headers=hb_admin).status_code == 404, url
        r = client.post(
            "/api/digitalasset/tokens",
            json={"collection_id": done["collection"]["id"], "work_id": done["work"]["id"]},
            headers=hb_admin,
        )
        assert r.status_code == 404
        assert (
            client.post(
                f"/api/digitalasset/works/{done['work']['id']}/evidence", headers=hb_admin
            ).status_code
            == 404
        )


def test_evidence_package_verifies_offline(client, tenants, tmp_path, cli) -> None:
    done = _issued(client, tenants)
    ha = tenants.a.headers(admin=True)
    r = client.post(
        f"/api/digitalasset/works/{done['work']['id']}/evidence",
        files={"documents": ("pledge-contract.txt", "质押合同草案".encode(), "text/plain")},
        headers=ha,
    )
    assert r.status_code == 201, r.text
    ev = r.json()
    package = client.get(f"/api/digitalasset/evidence/{ev['id']}/package", headers=ha)
    assert package.status_code == 200 and package.headers["content-type"] == "application/zip"
    path = tmp_path / "package.zip"
    path.write_bytes(package.content)
    result = evidence_verify.verify_package(path)
    assert result["ok"], result
    assert result["anchor"]["tx_hash"] == ev["anchor_tx"]
    # Online: the anchor contract holds the root.
    r = client.post(
        "/api/digitalasset/evidence/verify", files={"file": ("p.zip", package.content)}, headers=ha
    )
    assert r.json()["ok"] and r.json()["on_chain"] is True
    # The CLI verifies the same package offline; a changed document fails it.
    out = cli("digitalasset", "evidence", "verify", str(path), "--json")
    assert out.exit_code == 0, out.stderr
    assert out.json()["ok"] is True
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "rights_statement.txt":
                data = data.replace("不含改编权".encode(), "含改编权".encode())
            dst.writestr(item, data)
    out = cli("digitalasset", "evidence", "verify", str(tampered))
    assert out.exit_code == 1 and "FAILED" in out.stdout
    out = cli("digitalasset", "evidence", "verify", str(tmp_path / "nothing.zip"))
    assert out.exit_code == 2 and out.stderr.count("\n") == 1
    not_zip = tmp_path / "x.zip"
    not_zip.write_bytes(b"not a zip")
    out = cli("digitalasset", "evidence", "verify", str(not_zip))
    assert out.exit_code == 2 and "Traceback" not in out.stderr
    # The package's own verify.py runs with the standard library alone.
    with zipfile.ZipFile(io.BytesIO(package.content)) as zf:
        assert "verify.py" in zf.namelist()
        zf.extractall(tmp_path / "unpacked")
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-I", "-S", str(tmp_path / "unpacked" / "verify.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0 and run.stdout.strip().endswith("VERIFIED"), run.stdout + run.stderr


def test_register_verify_and_bad_input(client, tenants) -> None:
    ha = tenants.a.headers()
    work = _register(client, ha, title="秋月")
    ok = client.post(
        f"/api/digitalasset/works/{work['id']}/verify", files={"file": ("m.png", WORK)}, headers=ha
    ).json()
    assert ok["ok"] and ok["sha256_matches"] and ok["sm3_matches"]
    changed = bytearray(WORK)
    changed[1000] ^= 1
    bad = client.post(
        f"/api/digitalasset/works/{work['id']}/verify",
        files={"file": ("m.png", bytes(changed))},
        headers=ha,
    ).json()
    assert not bad["ok"] and not bad["sha256_matches"] and not bad["sm3_matches"]
    # The same content twice is a conflict; a financial asset is refused by rule 1.
    r = client.post(
        "/api/digitalasset/works",
        data={"title": "x", "kind": "image", "creator_name": "x", "rights_statement": RIGHTS},
        files={"file": ("m.png", WORK)},
        headers=tenants.b.headers(),
    )
    assert r.status_code == 409
    r = client.post(
        "/api/digitalasset/works",
        data={"title": "债券", "kind": "security", "creator_name": "x", "rights_statement": RIGHTS},
        files={"file": ("b.bin", b"bond")},
        headers=ha,
    )
    assert r.status_code == 422 and "CN-NFT-2022-1" in r.json()["detail"]
    r = client.post(
        "/api/digitalasset/works",
        data={
            "title": "x",
            "kind": "image",
            "creator_name": "x",
            "rights_statement": RIGHTS,
            "creator_did": "did:evil:1",
        },
        files={"file": ("c.bin", b"c")},
        headers=ha,
    )
    assert r.status_code == 422 and r.json()["key"] == "digitalasset.work.bad_did"
    # An unapproved work is not issued (rule 1), a reviewer cannot review its own org.
    r = client.post(
        "/api/digitalasset/collections",
        json={"standard": "erc1155", "name": "秋", "symbol": "AUT"},
        headers=tenants.a.headers(admin=True),
    )
    assert r.status_code == 201, r.text
    r = client.post(
        "/api/digitalasset/tokens",
        json={"collection_id": r.json()["id"], "work_id": work["id"], "edition_cap": 5},
        headers=tenants.a.headers(admin=True),
    )
    assert r.status_code == 403 and r.json()["params"]["rule"] == "CN-NFT-2022-1"
    r = client.post(
        f"/api/digitalasset/works/{work['id']}/decision", json={"action": "approve"}, headers=ha
    )
    assert r.status_code in (403, 409)
    r = client.get("/api/digitalasset/rules", headers=ha).json()
    assert [x["id"] for x in r["rules"]][:6] == [f"CN-NFT-2022-{i}" for i in range(1, 7)]
