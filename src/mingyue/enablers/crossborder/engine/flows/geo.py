"""Destination country from an offline IP database (adapters behind one Protocol).

- ``MmdbResolver``: a MaxMind-format ``.mmdb`` supplied by the operator (GeoLite2/GeoIP2 Country or
  City, or any file with ``country.iso_code``), read with ``maxminddb``.
- ``LegacyDatResolver``: Debian's ``geoip-database`` package (``/usr/share/GeoIP/GeoIP.dat`` and
  ``GeoIPv6.dat``, the legacy GeoIP format; its data is frozen at 2019-12), read with ``pygeoip``.
- ``CidrTableResolver``: a CSV of ``network,country`` rows the operator maintains.
Private, loopback and link-local addresses resolve to ``"private"``.
"""

from __future__ import annotations

import csv
import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Protocol

DEBIAN_GEOIP = Path("/usr/share/GeoIP/GeoIP.dat")
DEBIAN_GEOIP6 = Path("/usr/share/GeoIP/GeoIPv6.dat")
_INTERNAL = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)


class GeoResolver(Protocol):
    """Maps an IP address to an ISO 3166-1 alpha-2 country code."""

    def country(self, ip: str) -> str | None:
        """Return the country code, 'private', or None when unknown."""
        ...


def _special(ip: str) -> str | None:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "invalid"
    if addr.is_loopback or addr.is_link_local or addr.is_unspecified:
        return "private"
    # Internal networks only (RFC 1918, RFC 6598, RFC 4193): ipaddress also calls the documentation
    # ranges "private", but an operator's database may map them (test networks, lab setups).
    if any(addr in net for net in _INTERNAL if net.version == addr.version):
        return "private"
    return None


class MmdbResolver:
    """Country lookups in a MaxMind DB file."""

    def __init__(self, path: str | Path) -> None:
        import maxminddb  # lazy: crossborder extra, only for .mmdb databases

        self._reader = maxminddb.open_database(str(path))
        self.country = lru_cache(maxsize=65536)(self._country)

    def _country(self, ip: str) -> str | None:
        special = _special(ip)
        if special:
            return None if special == "invalid" else special
        rec = self._reader.get(ip)
        if not isinstance(rec, dict):
            return None
        for key in ("country", "registered_country"):
            sub = rec.get(key)
            if isinstance(sub, dict) and sub.get("iso_code"):
                return str(sub["iso_code"])
        code = rec.get("iso_code") or rec.get("country_code")
        return str(code) if code else None

    def close(self) -> None:
        """Close the database file."""
        self._reader.close()


class LegacyDatResolver:
    """Country lookups in Debian's legacy GeoIP.dat / GeoIPv6.dat (loaded into memory)."""

    def __init__(
        self, v4: str | Path = DEBIAN_GEOIP, v6: str | Path | None = DEBIAN_GEOIP6
    ) -> None:
        import pygeoip  # lazy: crossborder extra, only for legacy .dat databases

        self._v4 = self._open(pygeoip, v4)
        self._v6 = self._open(pygeoip, v6) if v6 and Path(v6).exists() else None
        self.country = lru_cache(maxsize=65536)(self._country)

    @staticmethod
    def _open(pygeoip: object, path: str | Path) -> object:
        db = pygeoip.GeoIP(str(path), flags=pygeoip.MEMORY_CACHE)  # type: ignore[attr-defined]
        # MEMORY_CACHE copies the file into memory; close the handle pygeoip keeps open.
        fp = getattr(db, "_fp", None)
        if fp is not None:
            fp.close()
        return db

    def _country(self, ip: str) -> str | None:
        special = _special(ip)
        if special:
            return None if special == "invalid" else special
        db = self._v6 if ":" in ip else self._v4
        if db is None:
            return None
        code = db.country_code_by_addr(ip)  # type: ignore[attr-defined]
        return code or None


class CidrTableResolver:
    """Country lookups in an operator CSV (``network,country``; longest prefix wins)."""

    def __init__(self, path: str | Path) -> None:
        rows: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = []
        with Path(path).open(encoding="utf-8", newline="") as fp:
            for i, row in enumerate(csv.reader(fp), 1):
                if not row or row[0].startswith("#") or row[0] == "network":
                    continue
                try:
                    rows.append(
                        (ipaddress.ip_network(row[0].strip(), strict=False), row[1].strip().upper())
                    )
                except (ValueError, IndexError) as exc:
                    raise ValueError(f"{path}: line {i}: {exc}") from exc
        rows.sort(key=lambda r: r[0].prefixlen, reverse=True)
        self._rows = rows
        self.country = lru_cache(maxsize=65536)(self._country)

    def _country(self, ip: str) -> str | None:
        special = _special(ip)
        if special:
            return None if special == "invalid" else special
        addr = ipaddress.ip_address(ip)
        for net, code in self._rows:
            if addr.version == net.version and addr in net:
                return code
        return None


def open_resolver(path: str | Path | None) -> GeoResolver | None:
    """Open a resolver by file kind: .mmdb, .dat (legacy GeoIP) or .csv; None if no path."""
    if path is None:
        return None
    p = Path(path)
    if p.suffix == ".mmdb":
        return MmdbResolver(p)
    if p.suffix == ".dat":
        v6 = p.with_name("GeoIPv6.dat")
        return LegacyDatResolver(p, v6 if v6.exists() else None)
    if p.suffix == ".csv":
        return CidrTableResolver(p)
    raise ValueError(f"unknown IP database kind: {p.name} (expected .mmdb, .dat or .csv)")
