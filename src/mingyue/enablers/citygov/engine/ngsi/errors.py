"""NGSI-LD errors: the ProblemDetails ``type`` URIs of ETSI GS CIM 009 clause 5.5.2."""

from __future__ import annotations

from typing import Any

from mingyue.sdk.errors import MingyueError

ERROR_BASE = "https://uri.etsi.org/ngsi-ld/errors/"

# NGSI-LD error type -> (HTTP status, i18n key)
KINDS: dict[str, tuple[int, str]] = {
    "InvalidRequest": (400, "citygov.ngsi.invalid_request"),
    "BadRequestData": (400, "citygov.ngsi.bad_request_data"),
    "AlreadyExists": (409, "citygov.ngsi.already_exists"),
    "OperationNotSupported": (422, "citygov.ngsi.operation_not_supported"),
    "ResourceNotFound": (404, "citygov.ngsi.resource_not_found"),
    "InternalError": (500, "citygov.ngsi.internal_error"),
    "TooComplexQuery": (403, "citygov.ngsi.too_complex_query"),
    "TooManyResults": (403, "citygov.ngsi.too_many_results"),
    "LdContextNotAvailable": (503, "citygov.ngsi.ld_context_not_available"),
    "NonexistentTenant": (404, "citygov.ngsi.nonexistent_tenant"),
    "NotAcceptable": (406, "citygov.ngsi.not_acceptable"),
    "UnsupportedMediaType": (415, "citygov.ngsi.unsupported_media_type"),
    "LengthRequired": (411, "citygov.ngsi.length_required"),
    "Forbidden": (403, "citygov.ngsi.forbidden"),
}


class NgsiError(MingyueError):
    """An NGSI-LD error: ``kind`` names the ProblemDetails type, ``status`` the HTTP answer."""

    def __init__(self, kind: str, detail: str, *, status: int | None = None, **params: Any) -> None:
        default_status, key = KINDS.get(kind, (400, "citygov.ngsi.bad_request_data"))
        super().__init__(key, detail, **params)
        self.kind = kind
        self.status = status or default_status
        self.exit_code = 2 if self.status < 500 else 1

    @property
    def type_uri(self) -> str:
        """Return the ProblemDetails ``type`` URI."""
        return ERROR_BASE + self.kind

    def problem(self) -> dict[str, Any]:
        """Return the ProblemDetails body (clause 5.5.2)."""
        return {
            "type": self.type_uri,
            "title": self.kind,
            "status": self.status,
            "detail": self.message,
        }


def bad_data(detail: str) -> NgsiError:
    """Return a 400 BadRequestData error."""
    return NgsiError("BadRequestData", detail)


def invalid(detail: str) -> NgsiError:
    """Return a 400 InvalidRequest error."""
    return NgsiError("InvalidRequest", detail)


def not_found(detail: str) -> NgsiError:
    """Return a 404 ResourceNotFound error."""
    return NgsiError("ResourceNotFound", detail)
