"""`mingyue satcert score`: score an NMEA log against a surveyed truth (CEP, 2DRMS, RTK)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from mingyue.cli_support import JsonOut, emit, run_cli
from mingyue.enablers.satcert.engine.accuracy import AccuracyReport, epochs_from_fixes, score
from mingyue.enablers.satcert.engine.geodesy import parse_truth
from mingyue.enablers.satcert.engine.nmea import ValidationReport, read_fixes
from mingyue.sdk.errors import InvalidInput

ReaderMode = Literal["certification", "lenient"]
READER_MODES: tuple[ReaderMode, ...] = ("certification", "lenient")


def register(app: typer.Typer) -> None:
    """Add the `score` command to the satcert CLI."""
    app.command("score")(score_command)


def score_command(
    nmea_file: Annotated[
        Path, typer.Argument(help="NMEA 0183 log (GGA; RMC/ZDA give the date)", show_default=False)
    ],
    truth: Annotated[
        str,
        typer.Option(
            "--truth",
            help="Surveyed antenna position: X,Y,Z (ECEF m) or lat,lon,h with --truth-kind "
            "geodetic (WGS 84 deg, deg, ellipsoidal m)",
            show_default=False,
        ),
    ],
    truth_kind: Annotated[
        str, typer.Option("--truth-kind", help="ecef (X,Y,Z) or geodetic (lat,lon,h)")
    ] = "ecef",
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="Reader mode: lenient scores what a receiver sends (a sentence over 82 "
            "characters or without checksum counts as a warning), certification scores only "
            "conforming sentences",
        ),
    ] = "lenient",
    quality: Annotated[
        list[int] | None,
        typer.Option(
            "--quality",
            help="Score only fixes of this GGA quality (repeatable; 4 = RTK fixed) "
            "[all measured: 1-5]",
            show_default=False,
        ),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option("--rate", help="Epoch interval in seconds [median step of the log]"),
    ] = None,
    expected_epochs: Annotated[
        int | None,
        typer.Option(
            "--expected-epochs",
            help="Epochs the session should hold, for availability [from the log's span]",
        ),
    ] = None,
    json_out: JsonOut = False,
) -> None:
    """定位精度评分 / Score an NMEA log against a surveyed truth: CEP50/95, 2DRMS, vertical, bias, RTK."""
    with run_cli():
        report, validation = score_file(
            nmea_file,
            truth=truth,
            truth_kind=truth_kind,
            mode=mode,
            qualities=quality or None,
            rate_s=rate,
            expected_epochs=expected_epochs,
        )
    doc = report.to_dict()
    doc["nmea"] = {
        "mode": validation.mode,
        "sentences": validation.sentences,
        "accepted": validation.accepted,
        "warnings": dict(validation.warnings),
        "passed": validation.passed,
    }
    emit(doc, json_out)


def score_file(
    path: Path,
    *,
    truth: str,
    truth_kind: str = "ecef",
    mode: str = "lenient",
    qualities: list[int] | None = None,
    rate_s: float | None = None,
    expected_epochs: int | None = None,
) -> tuple[AccuracyReport, ValidationReport]:
    """Read an NMEA log with the validator and score its fixes against the truth."""
    where = parse_truth(truth, truth_kind)  # a bad truth is refused before the log is read
    reader_mode = _reader_mode(mode)
    fixes, validation = read_fixes(path, mode=reader_mode)
    if not fixes:
        rejected = ", ".join(f"{k} {v}" for k, v in sorted(validation.rejected_sentences.items()))
        raise InvalidInput(
            "satcert.score.no_fixes",
            f"no position fix in {path} ({validation.sentences} sentences, "
            f"{validation.accepted} accepted; rejected: {rejected or 'none'})",
        )
    return score(
        epochs_from_fixes(fixes),
        where,
        qualities=qualities,
        rate_s=rate_s,
        expected_epochs=expected_epochs,
        log_epochs=validation.epochs,
        rejected=validation.rejected_sentences,
    ), validation


def _reader_mode(mode: str) -> ReaderMode:
    for known in READER_MODES:
        if mode == known:
            return known
    raise InvalidInput(
        "satcert.score.bad_mode",
        f"mode {mode!r} is not one of {', '.join(READER_MODES)}",
        field="--mode",
    )
