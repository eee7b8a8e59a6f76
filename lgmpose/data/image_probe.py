"""Checking encoded image bytes from their header and structure, before decoding: the format
(JPEG, PNG, WebP or BMP), the picture size against a pixel limit (so that a small file describing a
gigantic picture is refused before OpenCV allocates it), and that the file is complete: a JPEG cut
short decodes "successfully" in OpenCV with its missing rows filled grey, so truncation is found by
walking the file's segments to its end marker instead. Pure Python (struct, re).
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass

__all__ = ["ImageError", "ImageHeader", "FORMATS", "probe_image", "sniff_format"]

FORMATS = ("JPEG", "PNG", "WebP", "BMP")
_FORMAT_LIST = "JPEG, PNG, WebP or BMP"


class ImageError(ValueError):
    """The bytes are not an acceptable image. ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ImageHeader:
    format: str
    width: int
    height: int


# A marker in JPEG entropy-coded data: 0xFF followed by anything but a stuffed zero, a restart
# marker (which belongs to the scan) or another 0xFF (fill byte).
_JPEG_MARKER = re.compile(rb"\xff(?=[^\x00\xd0-\xd7\xff])")
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _truncated(fmt: str) -> ImageError:
    return ImageError(f"the {fmt} image is truncated (the file ends before its last part); "
                      "send the whole file")


def _corrupt(fmt: str, what: str) -> ImageError:
    return ImageError(f"the {fmt} image is corrupt ({what})")


def _probe_jpeg(data: bytes) -> ImageHeader:
    n = len(data)
    i = 2
    size = None
    while True:
        if i >= n:
            raise _truncated("JPEG")
        if data[i] != 0xFF:
            raise _corrupt("JPEG", f"no segment marker at byte {i}")
        while i < n and data[i] == 0xFF:    # fill bytes before a marker
            i += 1
        if i >= n:
            raise _truncated("JPEG")
        marker = data[i]
        i += 1
        if marker == 0xD9:                  # end of image
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue                         # markers without a length
        if i + 2 > n:
            raise _truncated("JPEG")
        length = (data[i] << 8) | data[i + 1]
        if length < 2:
            raise _corrupt("JPEG", f"segment of length {length} at byte {i}")
        if i + length > n:
            raise _truncated("JPEG")
        if marker in _JPEG_SOF:
            if length < 7:
                raise _corrupt("JPEG", "short frame header")
            height, width = struct.unpack(">HH", data[i + 3:i + 7])
            size = (width, height)
        i += length
        if marker == 0xDA:                   # start of scan: skip the entropy-coded data
            found = _JPEG_MARKER.search(data, i)
            if found is None:
                raise _truncated("JPEG")
            i = found.start()
    if size is None:
        raise _corrupt("JPEG", "no frame header")
    return ImageHeader("JPEG", *size)


def _probe_png(data: bytes) -> ImageHeader:
    n = len(data)
    i = 8
    size = None
    while True:
        if i + 8 > n:
            raise _truncated("PNG")
        length, kind = struct.unpack(">I4s", data[i:i + 8])
        if i + 12 + length > n:
            raise _truncated("PNG")
        if size is None:
            if kind != b"IHDR" or length < 8:
                raise _corrupt("PNG", "it does not start with a header chunk")
            size = struct.unpack(">II", data[i + 8:i + 16])
        if kind == b"IEND":
            break
        i += 12 + length
    return ImageHeader("PNG", *size)


def _probe_webp(data: bytes) -> ImageHeader:
    if len(data) < 30:
        raise _truncated("WebP")
    riff_size = struct.unpack("<I", data[4:8])[0]
    if len(data) < 8 + riff_size:
        raise _truncated("WebP")
    chunk = data[12:16]
    if chunk == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            raise _corrupt("WebP", "bad VP8 start code")
        width, height = struct.unpack("<HH", data[26:30])
        return ImageHeader("WebP", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L":
        if data[20] != 0x2F:
            raise _corrupt("WebP", "bad VP8L signature")
        bits = struct.unpack("<I", data[21:25])[0]
        return ImageHeader("WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return ImageHeader("WebP", width, height)
    raise _corrupt("WebP", f"unknown chunk {chunk!r}")


def _probe_bmp(data: bytes) -> ImageHeader:
    if len(data) < 26:
        raise _truncated("BMP")
    file_size, _, offset, header_size = struct.unpack("<IIII", data[2:18])
    if file_size and len(data) < file_size:
        raise _truncated("BMP")
    if header_size == 12:
        width, height = struct.unpack("<HH", data[18:22])
    elif header_size >= 40:
        width, height = struct.unpack("<ii", data[18:26])
    else:
        raise _corrupt("BMP", f"unknown header size {header_size}")
    if offset > len(data):
        raise _truncated("BMP")
    return ImageHeader("BMP", abs(width), abs(height))


_PROBES = {"JPEG": _probe_jpeg, "PNG": _probe_png, "WebP": _probe_webp, "BMP": _probe_bmp}


def sniff_format(data: bytes) -> str | None:
    """The format these bytes start like (``JPEG``, ``PNG``, ``WebP``, ``BMP``), else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[:2] == b"BM":
        return "BMP"
    return None


def probe_image(data: bytes, max_pixels: int | None = None) -> ImageHeader:
    """The format and size of ``data``, checked for completeness; an ``ImageError`` otherwise."""
    if not data:
        raise ImageError("the request body is empty: send the image's bytes")
    fmt = sniff_format(data)
    if fmt is not None:
        header = _PROBES[fmt](data)
    else:
        raise ImageError(f"the body is not an image: expected the bytes of a {_FORMAT_LIST} "
                         "file")
    if header.width <= 0 or header.height <= 0:
        raise _corrupt(header.format, f"size {header.width}x{header.height}")
    if max_pixels is not None and header.width * header.height > max_pixels:
        raise ImageError(f"the image is {header.width}x{header.height} = "
                         f"{header.width * header.height / 1e6:.1f} megapixels, over this "
                         f"service's limit of {max_pixels / 1e6:g} megapixels", status=413)
    return header
