"""UBX frames inside a receiver's byte stream (u-blox protocol: sync 0xB5 0x62, class, id, length, payload,
8-bit Fletcher checksum over class..payload). pyubx2 decodes the payload; the checksum is checked here.
"""

from __future__ import annotations

from pyubx2 import UBXMessage, UBXReader
from pyubx2.ubxtypes_core import UBX_MSGIDS

SYNC = b"\xb5\x62"
HEADER_LEN = 6
# A longer "frame" is taken for a false sync in binary noise: the largest u-blox M8/F9 output
# messages (NAV-SAT, RXM-RAWX with every signal) stay well under this.
MAX_PAYLOAD = 8192


def checksum(body: bytes) -> bytes:
    """Return the two UBX checksum bytes (8-bit Fletcher) of class, id, length and payload."""
    a = b = 0
    for byte in body:
        a = (a + byte) & 0xFF
        b = (b + a) & 0xFF
    return bytes((a, b))


def frame_ok(frame: bytes) -> bool:
    """Say whether a complete frame (sync .. checksum) carries a correct checksum."""
    return checksum(frame[2:-2]) == frame[-2:]


def decode(frame: bytes) -> tuple[str, UBXMessage | None]:
    """Return the message identity ("NAV-PVT") and pyubx2's decoded message (None if it has none)."""
    key = frame[2:4]
    name = UBX_MSGIDS.get(key)
    try:
        msg = UBXReader.parse(frame, validate=0)
    # pyubx2 raises its own errors, struct.error, KeyError... on payloads it cannot lay out; the
    # checksum was already verified, so such a frame is still counted (under its class/id).
    except Exception:
        return (name or f"UBX-{key[0]:02X}-{key[1]:02X}"), None
    return str(msg.identity), msg
