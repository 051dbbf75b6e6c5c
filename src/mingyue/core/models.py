"""Import every core table so that Base.metadata is complete."""

from mingyue.core import audit, identity  # noqa: F401

for _mod in ("cases", "jobs", "metering", "credentials", "files"):
    try:
        __import__(f"mingyue.core.{_mod}")
    except ImportError as exc:  # pragma: no cover - only while a module is being built
        raise ImportError(f"core module {_mod} failed to import: {exc}") from exc
