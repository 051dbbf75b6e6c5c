"""Container-image jobs on the local pool: runtime detection both ways, a real podman/docker run.

The real run needs a working runtime (``scripts/compute-setup.sh`` installs and configures
podman here) and the offline test image ``localhost/mingyue-busybox:latest``; where none
works the test skips and prints why.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mingyue.core.errors import InvalidInput
from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.uow import unit_of_work
from mingyue.enablers.compute import service
from mingyue.enablers.compute.adapters import container
from mingyue.enablers.compute.adapters.local import LocalAdapter
from mingyue.enablers.compute.engine.spec import load_spec
from mingyue.enablers.compute.service.pools import engine_pool, pool_row

from ..helpers import FLAT, add_pool  # noqa: TID252 - the tests are no installed package
from .test_local import wait_running, wait_terminal

IMAGE = "localhost/mingyue-busybox:latest"


@pytest.fixture
def broken_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A runtime binary that is on the PATH but whose ``info`` fails (no daemon)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "brokenrt"
    fake.write_text("#!/bin/sh\necho 'Cannot connect to the daemon' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{Path('/usr/bin')}:{Path('/bin')}")
    return "brokenrt"


def test_binary_present_but_failing_info_is_no_runtime(broken_runtime: str, tmp_path: Path) -> None:
    rt, why = container.detect((broken_runtime, "no-such-runtime"), fresh=True)
    assert rt is None
    assert "brokenrt info failed: Cannot connect to the daemon" in why
    assert "no-such-runtime: not installed" in why
    ad = LocalAdapter(tmp_path / "jobs", cpus=2, containers=(broken_runtime,))
    assert ad.capacity().container_runtime is None
    with pytest.raises(InvalidInput) as exc:
        ad.submit("c0", load_spec({"image": IMAGE, "command": "true"}))
    assert exc.value.field == "image" and "Cannot connect" in exc.value.message


def test_pool_without_runtime_is_not_matched_for_images(settings: Any, member: Any) -> None:
    add_pool(settings, "plain", cpus=2, tariff=FLAT, options={"containers": "off"})
    with unit_of_work(SYSTEM, settings) as uow:
        assert engine_pool(pool_row(uow, "plain")).supports_images is False
    with pytest.raises(InvalidInput) as exc, unit_of_work(member, settings) as uow:
        service.submit_job(uow=uow, spec={"image": IMAGE, "command": "true"})
    assert exc.value.field == "spec" and "no container runtime" in exc.value.message
    # a bad spec is refused before matching, naming the field
    with pytest.raises(InvalidInput) as exc, unit_of_work(member, settings) as uow:
        service.submit_job(uow=uow, spec={"image": "", "command": "true"})
    assert exc.value.field == "image"


@pytest.fixture(scope="module")
def runtime() -> container.ContainerRuntime:
    rt, why = container.detect(fresh=True)
    if rt is None:
        print(f"\n[compute] container jobs not tested: {why}")
        pytest.skip(why)
    has = (
        subprocess.run([rt.binary, "image", "exists", IMAGE], capture_output=True, check=False)
        if rt.name == "podman"
        else subprocess.run(
            [rt.binary, "image", "inspect", IMAGE], capture_output=True, check=False
        )
    )
    if has.returncode != 0:
        why = (
            f"{rt.name} works but the offline test image {IMAGE} is missing "
            "(scripts/compute-setup.sh imports it)"
        )
        print(f"\n[compute] {why}")
        pytest.skip(why)
    return rt


@pytest.fixture
def member(tenants: Any, actor_of: Any) -> Any:
    return actor_of(tenants.a.member)


@pytest.mark.service
def test_container_job_runs_with_limits_and_no_network(
    runtime: container.ContainerRuntime, tmp_path: Path
) -> None:
    ad = LocalAdapter(tmp_path / "jobs", cpus=2, containers=(runtime.name,))
    assert ad.capacity().container_runtime == runtime.name
    jid = ad.submit(
        "c1",
        load_spec(
            {
                "image": IMAGE,
                "cpus": 1,
                "memory_mb": 64,
                "env": {"GREETING": "hi"},
                "command": "echo $GREETING from $(hostname); ls /sys/class/net; sleep 1",
            }
        ),
    )
    st = wait_terminal(ad, jid, timeout=60)
    assert st.state.value == "succeeded", (st, ad.logs(jid))
    out = ad.logs(jid)
    assert out.startswith("hi from ")
    assert "eth0" not in out and "lo" in out  # --network=none: loopback only
    spec = (tmp_path / "jobs" / "c1" / "job.json").read_text()
    assert "--cpus=1" in spec and "--memory=64m" in spec and "--network=none" in spec
    # usage from the container's own start/end: about the 1 s it slept, never the runtime's
    # set-up on either side
    u = ad.usage(jid)
    assert u is not None and 1 <= u.seconds <= 3 and st.seconds == u.seconds
    # the container was removed at the end
    name = json.loads((tmp_path / "jobs" / "c1" / "job.json").read_text())["container"]["name"]
    assert name.startswith("mingyue-") and name.endswith("-c1")
    gone = subprocess.run(
        [runtime.binary, "container", "inspect", name], capture_output=True, check=False
    )
    assert gone.returncode != 0


@pytest.mark.service
def test_container_job_fails_cancels_and_bad_image(
    runtime: container.ContainerRuntime, tmp_path: Path
) -> None:
    ad = LocalAdapter(tmp_path / "jobs", cpus=2, containers=(runtime.name,))
    bad = ad.submit("c2", load_spec({"image": IMAGE, "command": "exit 3"}))
    st = wait_terminal(ad, bad, timeout=60)
    assert st.state.value == "failed" and st.exit_code == 3
    missing = ad.submit("c3", load_spec({"image": "localhost/not-imported:1", "command": "true"}))
    st = wait_terminal(ad, missing, timeout=60)
    assert st.state.value == "failed" and "could not run it" in (st.reason or "")
    slow = ad.submit("c4", load_spec({"image": IMAGE, "command": "sleep 60"}))
    wait_running(ad, slow, timeout=60)
    st = ad.cancel(slow, wait_s=20)
    assert st.state.value == "cancelled", st
    name = json.loads((tmp_path / "jobs" / "c4" / "job.json").read_text())["container"]["name"]
    left = subprocess.run(
        [runtime.binary, "container", "inspect", name], capture_output=True, check=False
    )
    assert left.returncode != 0


@pytest.mark.service
def test_image_job_end_to_end_through_the_service(
    runtime: container.ContainerRuntime, settings: Any, member: Any
) -> None:
    from compute.helpers import wait_done

    add_pool(settings, "plain", cpus=2, tariff=FLAT, options={"containers": "off"})
    add_pool(settings, "boxes", cpus=2, tariff=FLAT, options={"containers": runtime.name})
    with unit_of_work(member, settings) as uow:
        out = service.submit_job(uow=uow, spec={"image": IMAGE, "command": "echo boxed"})
    assert out.pool == "boxes" and "plain rejected: no container runtime" in out.reason
    job = wait_done(settings, out.job_id, timeout=60)
    assert job.state == "succeeded" and job.seconds >= 1
    with unit_of_work(member, settings) as uow:
        assert service.job_logs(uow=uow, job_id=out.job_id) == "boxed\n"
