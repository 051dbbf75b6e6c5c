"""Photos people send: decode only within a pixel cap, drop every metadata block, re-encode.

EXIF carries the phone's GPS track, its serial number and the time; a citizen's photo keeps only
its pixels (orientation applied first, so it still looks right). Pillow decodes; anything it
cannot read as JPEG, PNG or WebP is refused.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from mingyue.sdk.errors import InvalidInput

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}


@dataclass(frozen=True)
class CleanPhoto:
    """A photo re-encoded without metadata."""

    data: bytes
    mime: str
    suffix: str
    width: int
    height: int


def strip_metadata(data: bytes, *, max_pixels: int) -> CleanPhoto:
    """Return the photo re-encoded with no EXIF, XMP, ICC comment or text chunks."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            fmt = img.format or ""
            if fmt not in FORMATS:
                raise InvalidInput(
                    "citygov.photo.bad_type", "the photo must be JPEG, PNG or WebP", field="photo"
                )
            if img.width * img.height > max_pixels:
                raise InvalidInput(
                    "citygov.photo.too_many_pixels",
                    f"the photo has more than {max_pixels} pixels",
                    field="photo",
                    max=max_pixels,
                )
            img.load()
            upright: Image.Image = ImageOps.exif_transpose(img)
    except InvalidInput:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        raise InvalidInput(
            "citygov.photo.unreadable", "the photo cannot be read as an image", field="photo"
        ) from None
    # Copying the pixels into a fresh image leaves every metadata block behind.
    mode = upright.mode if upright.mode in ("RGB", "RGBA", "L", "LA") else "RGBA"
    if fmt == "JPEG" and mode not in ("RGB", "L"):
        mode = "RGB"
    clean = Image.new(mode, upright.size)
    clean.paste(upright.convert(mode))
    out = io.BytesIO()
    if fmt == "JPEG":
        clean.save(out, "JPEG", quality=88, optimize=True)
    elif fmt == "PNG":
        clean.save(out, "PNG", optimize=True)
    else:
        clean.save(out, "WEBP", quality=88)
    return CleanPhoto(out.getvalue(), FORMATS[fmt], SUFFIX[fmt], clean.width, clean.height)
