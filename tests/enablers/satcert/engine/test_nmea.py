"""NMEA 0183 validator: real logs from ../shared/data/gnss and hand-made defects."""

from __future__ import annotations

import datetime as dt
import functools
import operator
import random
from pathlib import Path

import pynmea2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mingyue.enablers.satcert.engine import nmea_fields, ubx
from mingyue.enablers.satcert.engine.nmea import (
    NmeaReader,
    read_fixes,
    read_verdicts,
)
from mingyue.sdk.errors import InvalidInput

GNSS = Path(__file__).resolve().parents[5] / "shared" / "data" / "gnss"
SPP = GNSS / "rtklib-geonet" / "spp0759.nmea"
MIXED = GNSS / "pyubx2" / "pygpsdata-MIXED.log"
needs_data = pytest.mark.skipif(not GNSS.is_dir(), reason=f"shared GNSS data absent: {GNSS}")


def sentence(body: str, *, term: bytes = b"\r\n") -> bytes:
    """Frame a sentence body with its correct checksum."""
    ck = functools.reduce(operator.xor, body.encode(), 0)
    return f"${body}*{ck:02X}".encode() + term


GGA = "GPGGA,092750.000,5321.6802,N,00630.3372,W,1,8,1.03,61.7,M,55.2,M,,"
RMC = "GPRMC,092750.000,A,5321.6802,N,00630.3372,W,0.02,31.66,280511,,,A"
EMPTY_GGA = "GPGGA,092751.000,,,,,0,00,99.99,,,,,,"


def test_valid_sentences_give_a_fix_with_values_in_degrees() -> None:
    fixes, rep = read_fixes(sentence(RMC) + sentence(GGA))
    assert rep.passed and rep.accepted == 2 and rep.by_type == {"RMC": 1, "GGA": 1}
    (fix,) = fixes
    assert fix.lat == pytest.approx(53 + 21.6802 / 60)
    assert fix.lon == pytest.approx(-(6 + 30.3372 / 60))
    assert (fix.alt_msl_m, fix.geoid_sep_m, fix.quality, fix.sats, fix.hdop) == (
        61.7,
        55.2,
        1,
        8,
        1.03,
    )
    assert fix.timestamp is not None and fix.timestamp.isoformat() == "2011-05-28T09:27:50+00:00"


def test_wrong_checksum_is_rejected_in_both_modes() -> None:
    bad = sentence(GGA)[:-4] + b"00\r\n"
    for mode in ("certification", "lenient"):
        fixes, rep = read_fixes(bad + sentence(RMC), mode)
        assert fixes == []
        assert rep.rejected_sentences == {"bad_checksum": 1}
        assert rep.accepted == 1 and not rep.passed


def test_missing_checksum_fails_certification_and_warns_in_lenient() -> None:
    data = f"${GGA}\r\n".encode()
    fixes, rep = read_fixes(data, "certification")
    assert fixes == [] and rep.rejected_sentences == {"missing_checksum": 1}
    fixes, rep = read_fixes(data, "lenient")
    assert len(fixes) == 1 and rep.warnings == {"missing_checksum": 1} and rep.passed


def test_bad_terminators() -> None:
    # CR alone, and a sentence run into the next one without any terminator.
    data = sentence(GGA, term=b"\r") + sentence(RMC, term=b"") + sentence(GGA)
    verdicts, rep = read_verdicts(data)
    assert [v.reason for v in verdicts] == ["bad_terminator", "bad_terminator", None]
    assert rep.rejected_sentences == {"bad_terminator": 2}
    _, lenient = read_fixes(data, "lenient")
    assert lenient.warnings == {"bad_terminator": 2} and lenient.accepted == 3
    # LF alone is accepted with a warning (logs rewritten by tools) in both modes.
    fixes, rep = read_fixes(sentence(GGA, term=b"\n"))
    assert len(fixes) == 1 and rep.warnings == {"lf_terminator": 1}


def test_truncated_log_and_sentence_cut_by_the_next() -> None:
    whole = sentence(RMC) + sentence(GGA)
    cut = whole[:-20]  # the log ends inside the GGA
    fixes, rep = read_fixes(cut)
    assert fixes == [] and rep.rejected_sentences == {"truncated": 1} and rep.accepted == 1
    # A sentence interrupted by a new `$` before its checksum.
    fixes, rep = read_fixes(b"$GPGGA,0927" + sentence(GGA))
    assert len(fixes) == 1 and rep.rejected_sentences == {"truncated": 1}
    # A log that ends right after the checksum, without CR LF.
    _, rep = read_fixes(sentence(GGA, term=b""))
    assert rep.rejected_sentences == {"bad_terminator": 1}


def test_binary_noise_between_sentences_is_counted_never_dropped_silently() -> None:
    rng = random.Random(7)
    noise = bytes(rng.randrange(256) for _ in range(5000)).replace(b"$", b"#")
    noise = noise.replace(b"\xb5", b"\x00").replace(b"N", b"n")
    data = sentence(GGA) + noise + sentence(RMC) + b"\x00\xff\x13" + sentence(GGA)
    fixes, rep = read_fixes(data)
    assert len(fixes) == 2 and rep.accepted == 3
    assert rep.rejected_sentences["binary_noise"] == 2
    stray = noise.count(b"\r") + noise.count(b"\n")  # stray CR/LF between items are not noise
    assert rep.noise_bytes == len(noise) - stray + 3


def test_empty_gga_is_no_fix_never_latitude_zero() -> None:
    # The gap this closes: pynmea2 reads latitude 0.0 from this sentence.
    assert pynmea2.parse(sentence(EMPTY_GGA).decode().strip()).latitude == 0.0
    fixes, rep = read_fixes(sentence(EMPTY_GGA) + sentence(GGA))
    assert len(fixes) == 1 and fixes[0].lat != 0.0
    assert rep.epochs == 2 and rep.rejected_sentences == {"no_fix": 1} and rep.passed
    # A fix quality with an empty position contradicts itself.
    _, rep = read_fixes(sentence("GPGGA,092751.000,,,,,1,00,99.99,,,,,,"))
    assert rep.rejected_sentences == {"out_of_range": 1}


@pytest.mark.parametrize(
    "body",
    [
        "GPGGA,092750.000,9121.6802,N,00630.3372,W,1,8,1.03,61.7,M,55.2,M,,",  # lat > 90
        "GPGGA,092750.000,5321.6802,N,18130.3372,W,1,8,1.03,61.7,M,55.2,M,,",  # lon > 180
        "GPGGA,092750.000,5361.6802,N,00630.3372,W,1,8,1.03,61.7,M,55.2,M,,",  # minutes 61
        "GPGGA,092750.000,5321.6802,X,00630.3372,W,1,8,1.03,61.7,M,55.2,M,,",  # hemisphere
        "GPGGA,252750.000,5321.6802,N,00630.3372,W,1,8,1.03,61.7,M,55.2,M,,",  # hour 25
        "GPGGA,092750.000,5321.6802,N,00630.3372,W,9,8,1.03,61.7,M,55.2,M,,",  # quality 9
        "GPGGA,092750.000,5321.6802,N,00630.3372,W,1,x,1.03,61.7,M,55.2,M,,",  # satellites
        "GPGGA,092750.000,5321.6802,N,00630.3372,W,1,8,-1.0,61.7,M,55.2,M,,",  # HDOP < 0
        "GPRMC,092750.000,A,5321.6802,N,00630.3372,W,0.02,31.66,310211,,,A",  # 31 Feb
        "GPRMC,092750.000,A,,,,,0.02,31.66,280511,,,A",  # status A without a position
    ],
)
def test_field_ranges(body: str) -> None:
    fixes, rep = read_fixes(sentence(body))
    assert fixes == [] and rep.rejected_sentences == {"out_of_range": 1}


def test_unknown_talker_and_proprietary() -> None:
    data = sentence(GGA.replace("GPGGA", "INGGA")) + sentence("PUBX,04,103607.00,060321")
    _, rep = read_fixes(data)
    assert rep.rejected_sentences == {"unknown_talker": 1} and rep.by_talker == {"P": 1}
    fixes, rep = read_fixes(data, "lenient")
    assert len(fixes) == 1 and rep.warnings == {"unknown_talker": 1}
    for talker in ("GP", "GL", "GA", "BD", "GB", "GN", "GQ", "GI"):
        _, rep = read_fixes(sentence(GGA.replace("GP", talker, 1)))
        assert rep.by_talker == {talker: 1}


def gsv(talker: str, total: int, num: int, in_view: int, sats: list[int]) -> bytes:
    blocks = "".join(f",{p:02d},45,120,40" for p in sats)
    return sentence(f"{talker}GSV,{total},{num},{in_view:02d}{blocks}")


def test_gsv_sequences_complete_incomplete_and_inconsistent() -> None:
    full = gsv("GP", 2, 1, 6, [1, 2, 3, 4]) + gsv("GP", 2, 2, 6, [5, 6])
    _, rep = read_fixes(full)
    assert rep.by_type == {"GSV": 2} and rep.passed
    # Message 1 of 3 then a new sequence: the first is incomplete (both of its parts).
    broken = gsv("GL", 3, 1, 9, [65, 66, 67, 68]) + gsv("GL", 3, 2, 9, [69, 70, 71, 72]) + full
    _, rep = read_fixes(broken)
    assert rep.rejected_sentences == {"incomplete_gsv": 2} and rep.by_type == {"GSV": 2}
    # The log ends inside a sequence.
    _, rep = read_fixes(gsv("GP", 2, 1, 6, [1, 2, 3, 4]))
    assert rep.rejected_sentences == {"incomplete_gsv": 1}
    # A message count that does not fit the satellites in view, and too few satellite blocks.
    _, rep = read_fixes(gsv("GP", 3, 1, 6, [1, 2, 3, 4]) + gsv("GP", 2, 2, 6, [5]))
    assert rep.rejected_sentences == {"out_of_range": 2}
    # GSV cut before its checksum: pynmea2 accepts it (#128), we do not.
    cut = b"$GPGSV,2,1,06,01,45,120,40,02,45\r\n"
    pynmea2.parse(cut.decode().strip())
    _, rep = read_fixes(cut, "lenient")
    assert rep.rejected_sentences == {"truncated": 1}


def test_long_lines() -> None:
    body = "GPTXT,01,01,02," + "x" * 70
    _, rep = read_fixes(sentence(body))
    assert rep.rejected_sentences == {"too_long": 1}
    _, rep = read_fixes(sentence(body), "lenient")
    assert rep.warnings == {"too_long": 1} and rep.accepted == 1
    # A line longer than the hard cap is not buffered: rejected in both modes, then resync.
    huge = b"$GPTXT," + b"y" * 5000 + b"\r\n" + sentence(GGA)
    fixes, rep = read_fixes(huge, "lenient")
    assert len(fixes) == 1 and rep.rejected_sentences == {"too_long": 1}


def test_streaming_in_small_chunks_equals_one_read() -> None:
    data = MIXED.read_bytes() if MIXED.exists() else b""
    data += sentence(RMC) + b"\xb5\x62garbage" + sentence(GGA) + gsv("GP", 1, 1, 2, [1, 2])
    data += b"NMEA," + sentence(GGA)[:-2] + b",1699400577561\r\n"
    whole_fixes, whole = read_fixes(data)
    for size in (1, 7, 64):
        reader = NmeaReader()
        got = []
        for i in range(0, len(data), size):
            got += reader.feed(data[i : i + size])
        rep = reader.close()
        assert got == whole_fixes and reader.fixes == whole_fixes
        assert rep.to_dict() == whole.to_dict()


def test_ubx_checksum_and_false_sync() -> None:
    frame = b"\xb5\x62\x06\x04\x04\x00\xff\xff\x00\x00"  # CFG-RST, cold start
    frame += ubx.checksum(frame[2:])
    _, rep = read_fixes(frame + sentence(GGA))
    assert rep.ubx_messages == {"CFG-RST": 1} and rep.passed
    broken = frame[:-1] + bytes([frame[-1] ^ 0xFF])
    fixes, rep = read_fixes(broken + sentence(GGA))
    assert len(fixes) == 1 and rep.rejected_sentences["ubx_bad_checksum"] == 1


@needs_data
def test_mixed_ubx_nmea_log_counts_match_pyubx2() -> None:
    from pyubx2 import NMEA_PROTOCOL, UBX_PROTOCOL, UBXReader

    expected: dict[str, int] = {}
    with MIXED.open("rb") as fh:
        for _, msg in UBXReader(fh, protfilter=NMEA_PROTOCOL | UBX_PROTOCOL, quitonerror=0):
            expected[msg.identity] = expected.get(msg.identity, 0) + 1
    _, rep = read_fixes(MIXED)
    assert rep.ubx_total == 300 and rep.by_type == {"TXT": 8} and rep.by_talker == {"GN": 8}
    assert {**rep.ubx_messages, "GNTXT": rep.by_type["TXT"]} == expected
    assert rep.passed and rep.noise_bytes == 0


@needs_data
def test_gnss_lib_py_checksum_files() -> None:
    fixes, rep = read_fixes(GNSS / "gnss_lib_py" / "nmea_w_correct_checksum.nmea")
    assert len(fixes) == 2 and rep.passed and rep.accepted == 4
    assert fixes[0].lat == pytest.approx(37 + 25.4168121 / 60)
    assert fixes[0].lon == pytest.approx(-(122 + 5.6498009 / 60))
    assert rep.rates_hz == {"GGA": 10.0, "RMC": 10.0}  # 0.1 s apart
    fixes, rep = read_fixes(GNSS / "gnss_lib_py" / "nmea_no_checksum.nmea")
    assert fixes == [] and rep.rejected_sentences == {"missing_checksum": 4}
    lenient, rep = read_fixes(GNSS / "gnss_lib_py" / "nmea_no_checksum.nmea", "lenient")
    assert len(lenient) == 2 and rep.warnings["missing_checksum"] == 4


@needs_data
def test_android_gnsslogger_lines() -> None:
    fixes, rep = read_fixes(GNSS / "gnss_lib_py" / "pixel6.nmea")
    assert len(fixes) == 48 and rep.accepted == 96 and rep.passed and rep.noise_bytes == 0
    assert fixes[-1].timestamp is not None and fixes[-1].timestamp.year == 2023


@needs_data
def test_rtklib_spp_log_gives_115_fixes_in_lenient_mode() -> None:
    fixes, rep = read_fixes(SPP, "lenient")
    assert len(fixes) == 115 and rep.epochs == 115 and rep.passed
    assert rep.warnings == {"too_long": 115}  # RTKLIB prints 88-character GGA lines
    assert {f.quality for f in fixes} == {1}
    assert rep.rates_hz["GGA"] == pytest.approx(1 / 30, abs=1e-6)
    # UTC midnight passes between the first two epochs; dates follow RMC.
    assert fixes[0].timestamp is not None and fixes[0].timestamp.isoformat().startswith(
        "2005-04-01T23:59:47"
    )
    assert fixes[1].timestamp is not None and fixes[1].timestamp.day == 2
    # The same log in certification mode: the 82-character rule fails every GGA.
    fixes, rep = read_fixes(SPP)
    assert fixes == [] and rep.rejected_sentences == {"too_long": 115} and not rep.passed


@needs_data
def test_agreement_with_pynmea2_on_valid_sentences() -> None:
    """Every sentence we accept from the shared logs, pynmea2 parses to the same values."""
    logs = ["rtklib-geonet/spp0759.nmea", "rtklib-geonet/rtk0759.nmea", "gnss_lib_py/pixel6.nmea"]
    compared = 0
    for name in logs:
        data = (GNSS / name).read_bytes()
        fixes, _ = read_fixes(data, "lenient")
        by_line = {f.line_no: f for f in fixes}
        lines = [ln for ln in data.decode().splitlines() if ln]
        for i, line in enumerate(lines, start=1):
            text = line[5:].rsplit(",", 1)[0] if line.startswith("NMEA,") else line
            msg = pynmea2.parse(text, check=True)
            if msg.sentence_type != "GGA":
                continue
            fix = by_line[i]
            assert fix.lat == pytest.approx(msg.latitude, abs=1e-12)
            assert fix.lon == pytest.approx(msg.longitude, abs=1e-12)
            assert fix.alt_msl_m == msg.altitude and fix.geoid_sep_m == float(msg.geo_sep)
            assert fix.quality == msg.gps_qual and fix.sats == int(msg.num_sats)
            assert fix.hdop == float(msg.horizontal_dil)
            assert fix.time.replace(tzinfo=None) == msg.timestamp.replace(tzinfo=None)
            compared += 1
    assert compared == 115 + 115 + 48


def test_fast_path_agrees_with_field_checks() -> None:
    """A sentence the fast patterns accept is accepted, with the same values, by the field checks."""
    rng = random.Random(3)
    pool = {
        "time": ["", "092750", "092750.000", "235960", "240000", "0927", "12345a"],
        "lat": ["", "5321.6802", "9000.000", "9000.001", "0000", "8959.99", "5360.0", "53"],
        "ns": ["", "N", "S", "X"],
        "lon": ["", "00630.3372", "18000", "18000.5", "17959.9", "0063.0", "630.1"],
        "ew": ["", "E", "W", "N"],
        "num": ["", "0", "8", "9", "12", "99", "100", "1.5", "-1", "999.99", "1000.0", "x"],
        "alt": ["", "61.7", "-9999.9", "-10000.1", "999999", "1000001", "1e3"],
        "sep": ["", "55.2", "-199.9", "200.0", "200.1"],
        "st": ["", "A", "V", "X"],
        "date": ["", "280511", "310211", "290200", "010180", "01018", "aabbcc"],
    }
    layouts = {
        "GGA": "time lat ns lon ew num num num alt M sep M num num",
        "RMC": "time st lat ns lon ew num num date num ew",
        "GLL": "lat ns lon ew time st",
        "GSA": "st num num num num num num num num num num num num num num num num",
        "VTG": "num T num M num N num K",
    }
    agreed = 0
    for _ in range(40000):
        stype = rng.choice(list(layouts))
        fields = [
            rng.choice(pool[k]) if k in pool else rng.choice([k, ""])
            for k in layouts[stype].split()
        ]
        body = ",".join(fields).encode()
        rx, extract = nmea_fields.FAST[stype]
        g = rx.fullmatch(body)
        if g is None:
            continue
        fast_value = extract(g, _clock)
        if fast_value is nmea_fields.FAIL:
            continue
        reason, slow_value = nmea_fields.check_fields(stype, fields)
        assert reason is None, (stype, fields)
        assert fast_value == slow_value, (stype, fields)
        agreed += 1
    assert agreed > 1500


def _clock(ts: bytes | None) -> tuple[float, dt.time] | None:
    return nmea_fields.parse_time(ts.decode()) if ts is not None else None


def test_bad_path_and_mode_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        read_fixes(tmp_path / "absent.nmea")
    assert err.value.key == "satcert.nmea.unreadable"
    with pytest.raises(InvalidInput) as err:
        read_fixes(b"", "strict")  # type: ignore[arg-type]
    assert err.value.key == "satcert.nmea.bad_mode"


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=300),
            st.sampled_from(
                [
                    sentence(GGA),
                    sentence(RMC),
                    sentence(EMPTY_GGA),
                    b"$",
                    b"\xb5\x62",
                    b"\xb5\x62\x01\x07\xff\xff",
                    b"NMEA,",
                    b"*",
                    b"\r",
                    b"\n",
                    gsv("GP", 2, 1, 6, [1, 2, 3, 4]),
                ]
            ),
        ),
        max_size=30,
    ),
    st.integers(min_value=1, max_value=64),
)
def test_fuzz_random_bytes_never_raise_and_chunking_does_not_matter(
    parts: list[bytes], chunk: int
) -> None:
    data = b"".join(parts)
    for mode in ("certification", "lenient"):
        fixes, rep = read_fixes(data, mode)
        not_sentences = ("no_fix", "binary_noise", "ubx_bad_checksum", "ubx_truncated")
        rejected = sum(n for k, n in rep.rejected_sentences.items() if k not in not_sentences)
        assert rep.sentences == rep.accepted + rejected
        reader = NmeaReader(mode)
        streamed = []
        for i in range(0, len(data), chunk):
            streamed += reader.feed(data[i : i + chunk])
        assert reader.close().to_dict() == rep.to_dict() and reader.fixes == fixes
        # feed() hands out fixes as they complete; close() completes the rest (a sentence without
        # CR LF at the end, or what waited behind a possible UBX header until the stream ended).
        assert streamed == fixes[: len(streamed)]
