"""Errors the appcheck engine raises for bad input, each with a message key and an English message.

A bad APK is the normal case for this engine (uploads are hostile), so every refusal is a typed
exception carrying ``key`` (looked up in ``i18n/{zh_CN,en}.toml``), ``params`` and a readable
English ``message``; callers print one line per file and carry on with the next one.
"""

from __future__ import annotations

from typing import Any


class AppcheckError(Exception):
    """Base class: a per-file error with a stable message key."""

    key = "appcheck.error"

    def __init__(self, message: str, *, key: str | None = None, **params: Any) -> None:
        super().__init__(message)
        self.message = message
        if key is not None:
            self.key = key
        self.params: dict[str, Any] = params

    def to_dict(self) -> dict[str, Any]:
        """Return the error as a JSON-ready dict (key, message, params)."""
        return {"key": self.key, "message": self.message, "params": self.params}


class NotAnApk(AppcheckError):
    """The file is not a ZIP archive at all (or is empty / truncated)."""

    key = "appcheck.not_a_zip"


class MalformedArchive(AppcheckError):
    """The ZIP structure is inconsistent (truncated central directory, bad entries...)."""

    key = "appcheck.malformed_archive"


class ArchiveRefused(AppcheckError):
    """The archive exceeds a configured cap (size, entry count, compression ratio): a bomb?"""

    key = "appcheck.archive_refused"


class NotAnAndroidApp(AppcheckError):
    """A valid ZIP without a usable ``AndroidManifest.xml``."""

    key = "appcheck.no_manifest"


class SplitApkRefused(AppcheckError):
    """A split-APK container that cannot be analysed (no base APK, nested too deep...)."""

    key = "appcheck.split_refused"


class ParseFailed(AppcheckError):
    """The sandboxed parser failed on this file (androguard raised, or the worker crashed)."""

    key = "appcheck.parse_failed"


class ParseTimeout(AppcheckError):
    """The sandboxed parser ran past its time limit and was killed."""

    key = "appcheck.parse_timeout"


class ParseOutOfMemory(AppcheckError):
    """The sandboxed parser hit its address-space limit (RLIMIT_AS)."""

    key = "appcheck.parse_oom"


class UnknownAppType(AppcheckError):
    """The declared App type is not one of the 39 types of the 2021 rule."""

    key = "appcheck.unknown_app_type"


class BadSdkList(AppcheckError):
    """The uploaded privacy policy / SDK list cannot be read."""

    key = "appcheck.bad_sdk_list"


ERROR_TYPES: dict[str, type[AppcheckError]] = {
    cls.key: cls
    for cls in (
        AppcheckError,
        NotAnApk,
        MalformedArchive,
        ArchiveRefused,
        NotAnAndroidApp,
        SplitApkRefused,
        ParseFailed,
        ParseTimeout,
        ParseOutOfMemory,
        UnknownAppType,
        BadSdkList,
    )
}


def error_from_dict(data: dict[str, Any]) -> AppcheckError:
    """Rebuild an error sent back by the sandboxed worker."""
    cls = ERROR_TYPES.get(str(data.get("key")), AppcheckError)
    params = data.get("params") or {}
    err = cls(str(data.get("message", "")), **params)
    err.key = str(data.get("key", cls.key))
    return err
