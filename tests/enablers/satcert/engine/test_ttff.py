"""TTFF harness on the simulated module over a virtual clock: resets, first valid fix, statistics."""

from __future__ import annotations

import pytest
from pyubx2 import SET, UBXReader

from mingyue.enablers.satcert.engine.at import AtEngine
from mingyue.enablers.satcert.engine.sim import (
    SimConfig,
    SimModule,
    TtffDistribution,
    VirtualClock,
    VirtualLink,
)
from mingyue.enablers.satcert.engine.ttff import (
    Trial,
    measure_once,
    nearest_rank,
    run_ttff,
    summarize,
    ubx_cfg_rst,
)


def bench(**config: object) -> tuple[AtEngine, SimModule, VirtualClock]:
    clock = VirtualClock(100.0)
    module = SimModule(SimConfig(**config))  # type: ignore[arg-type]
    eng = AtEngine(VirtualLink(module, clock), clock=clock)
    assert eng.command("ATE0").ok
    return eng, module, clock


FIXED = {
    "cold": TtffDistribution(30.0, 0.0),
    "warm": TtffDistribution(12.0, 0.0),
    "hot": TtffDistribution(1.5, 0.0),
}


def test_ubx_cfg_rst_frames() -> None:
    assert ubx_cfg_rst("cold").hex() == "b56206040400ffff02000e61"
    for mode, mask in (("cold", 0xFFFF), ("warm", 0x0001), ("hot", 0x0000)):
        msg = UBXReader.parse(ubx_cfg_rst(mode), msgmode=SET)
        assert msg.identity == "CFG-RST" and msg.resetMode == 2
        assert int.from_bytes(msg.payload[:2], "little") == mask
    with pytest.raises(ValueError, match="cold, warm or hot"):
        ubx_cfg_rst("lukewarm")


def test_nearest_rank_and_summary_count_timeouts_as_infinite() -> None:
    assert nearest_rank([3.0, 1.0, 2.0], 0.5) == 2.0
    assert nearest_rank([float(i) for i in range(1, 21)], 0.95) == 19.0
    trials = [Trial("cold", i, float(i + 1), "fix", 5, 0) for i in range(9)]
    trials.append(Trial("cold", 9, None, "timeout", 50, 0))
    stats = summarize("cold", trials)
    assert stats.n == 10 and stats.fixes == 9 and stats.timeouts == 1
    assert stats.median_s == 5.5
    assert stats.p95_s is None and stats.max_s is None  # the timeout is the 95th percentile
    assert stats.min_s == 1.0


@pytest.mark.parametrize(("mode", "expected"), [("cold", 30.0), ("warm", 12.0), ("hot", 1.5)])
def test_at_reset_time_to_first_fix(mode: str, expected: float) -> None:
    eng, module, _ = bench(ttff=FIXED, epoch_s=1.0)
    trial = measure_once(eng, mode, timeout_s=120)
    assert trial.status == "fix"
    assert trial.ttff_s is not None
    # the first fixed epoch comes at most one epoch after the sampled TTFF
    assert expected <= trial.ttff_s <= expected + 1.0 + 1e-6
    assert trial.lat == pytest.approx(39.9042, abs=1e-6)
    assert module.resets[-1][1] == mode


def test_ubx_reset_time_to_first_fix() -> None:
    eng, module, _ = bench(ttff=FIXED, epoch_s=0.5)
    trial = measure_once(eng, "warm", method="ubx", timeout_s=60)
    assert trial.status == "fix" and trial.ttff_s is not None
    assert 12.0 <= trial.ttff_s <= 12.5 + 1e-6
    assert module.resets[-1][1] == "warm"


def test_campaign_median_and_p95() -> None:
    eng, _, _ = bench(epoch_s=0.1, seed=7)
    stats = run_ttff(eng, "cold", 20, timeout_s=10)
    assert stats.n == 20 and stats.fixes == 20 and stats.timeouts == 0
    assert stats.median_s is not None and stats.p95_s is not None
    assert 0.5 < stats.median_s < 1.2 and stats.median_s <= stats.p95_s <= (stats.max_s or 0)


def test_no_fix_times_out_with_sentences_counted() -> None:
    eng, _, clock = bench(fault="no_fix", epoch_s=1.0)
    t0 = clock.t
    stats = run_ttff(eng, "hot", 2, timeout_s=5)
    assert stats.fixes == 0 and stats.timeouts == 2 and stats.median_s is None
    assert all(t.sentences >= 12 and t.rejected == 0 for t in stats.trials)
    assert clock.t - t0 == pytest.approx(10, abs=0.1)


def test_bad_checksums_never_count_as_a_fix() -> None:
    eng, _, _ = bench(fault="bad_checksum", ttff=FIXED, epoch_s=1.0)
    trial = measure_once(eng, "hot", timeout_s=5)
    assert trial.status == "timeout" and trial.rejected == trial.sentences > 0


def test_refused_reset_and_dropped_link() -> None:
    eng, _, _ = bench()
    trial = measure_once(eng, "cold", at_commands={"cold": "AT+NOPE"}, timeout_s=5)
    assert trial.status == "reset_failed"
    eng2, _, _ = bench(fault="drop", drop_after=2)
    stats = run_ttff(eng2, "cold", 5, timeout_s=5)
    assert stats.n == 1 and stats.trials[0].status == "closed"
