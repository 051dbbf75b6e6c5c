"""`mingyue demo` gives the compute console something real: a local pool and an SME job on quota."""

from __future__ import annotations

import time
from typing import Any


def test_demo_seeds_a_pool_and_an_sme_job_on_free_quota(cli: Any) -> None:
    first = cli("demo", "--json")
    assert first.exit_code == 0, first.stderr
    pools = cli("compute", "pool", "list", "--as", "op_admin", "--json")
    assert pools.exit_code == 0, pools.stderr
    assert [(p["name"], p["kind"]) for p in pools.json()] == [("liangjiang-local", "local")]
    deadline = time.monotonic() + 30
    while True:
        st = cli("compute", "status", "1", "--as", "ent1_admin", "--json")
        assert st.exit_code == 0, st.stderr
        if st.json()["state"] in {"succeeded", "failed"} or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    out = st.json()
    assert out["state"] == "succeeded" and out["pool"] == "liangjiang-local"
    assert out["seconds"] >= 1 and out["free_quota_used"] == str(out["seconds"])
    assert float(out["cost"]) == 0
    logs = cli("compute", "logs", "1", "--as", "ent1_admin")
    assert "你好，明月湖" in logs.stdout
    # the other enterprise cannot see the demo job; a second demo run adds no second pool
    assert cli("compute", "status", "1", "--as", "ent2_admin", "--json").exit_code != 0
    assert cli("demo", "--json").exit_code == 0
    again = cli("compute", "pool", "list", "--as", "op_admin", "--json").json()
    assert len(again) == 1
