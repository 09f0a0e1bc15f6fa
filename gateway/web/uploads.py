"""Checking uploaded files before anything decodes them.

A phone on flaky Wi-Fi sends truncated JPEGs; a curious user sends a PDF, a HEIC or a
decompression bomb. We read the dimensions from the JPEG/PNG header first (no pixel
buffer is allocated) and refuse anything over the pixel limit. A JPEG is then proved
complete by walking its segments and scans to the end-of-image marker (byte stuffing
intact, every length inside the file) and letting Pillow parse its tables: a few ms for a
12 MP photo, where even a 1/8-scale decode costs ~60 ms of CPU per upload under a burst.
The worker decodes every photo anyway and refuses, with reasons, one whose pixels are bad.
Each refusal carries an i18n key so the officer learns why in plain words.
"""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass, field
from typing import Any

# A 48 MP phone sensor at full size is ~8000x6000; anything larger is not a camera photo.
MAX_PIXELS = 50_000_000
# The vision stage cannot read digit boxes from a page smaller than this.
MIN_SIDE_PX = 600
MAX_PDF_PAGES = 12
# Long side of a PDF page rendered for reading: like a 12 MP phone photo.
PDF_RENDER_LONG_SIDE = 4000

JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# Inside a scan an 0xFF byte is stuffed (FF 00), a restart marker (FF D0-D7) or fill before
# a marker; the first other FF xx ends the scan.
SCAN_END = re.compile(rb"\xff(?!\x00|[\xd0-\xd7]|\xff)")


class UploadRefused(Exception):
    """An upload we will not store; `key` is the i18n message, `params` fill it."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass
class ImageInfo:
    kind: str  # "jpeg" | "png"
    width: int
    height: int
    content_type: str = field(default="image/jpeg")


def sniff(data: bytes) -> str:
    """The file kind from its first bytes: jpeg, png, pdf, heic or unknown."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
        return "heic"
    return "unknown"


def jpeg_size(data: bytes) -> tuple[int, int, int]:
    """(width, height, frame header offset) from the JPEG markers; UploadRefused if broken."""
    pos = 2
    n = len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            raise UploadRefused("err_corrupt")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            raise UploadRefused("err_corrupt")
        if marker in JPEG_SOF:
            if pos + 9 > n:
                raise UploadRefused("err_truncated")
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height, pos
        if marker == 0xDA:  # start of scan before any frame header
            raise UploadRefused("err_corrupt")
        pos += 2 + length
    raise UploadRefused("err_truncated")


def jpeg_complete(data: bytes, pos: int) -> None:
    """From the frame header at `pos`: every segment fits in the file, each scan runs to a
    marker, and an end-of-image marker follows the last scan (data after it, such as a
    phone's motion-photo trailer, is ignored). UploadRefused when cut off or malformed."""
    n = len(data)
    scans = 0
    while True:
        if pos + 2 > n:
            raise UploadRefused("err_truncated")
        if data[pos] != 0xFF:
            raise UploadRefused("err_corrupt")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xD9:
            if scans == 0:
                raise UploadRefused("err_corrupt")
            return
        if marker == 0xD8 or 0xD0 <= marker <= 0xD7:
            raise UploadRefused("err_corrupt")
        if pos + 4 > n:
            raise UploadRefused("err_truncated")
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            raise UploadRefused("err_corrupt")
        pos += 2 + length
        if pos > n:
            raise UploadRefused("err_truncated")
        if marker == 0xDA:
            scans += 1
            found = SCAN_END.search(data, pos)
            if found is None:
                raise UploadRefused("err_truncated")
            pos = found.start()


def png_size(data: bytes) -> tuple[int, int]:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise UploadRefused("err_truncated" if len(data) < 24 else "err_corrupt")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def check_dimensions(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise UploadRefused("err_corrupt")
    if width * height > MAX_PIXELS:
        raise UploadRefused("err_too_many_pixels", mp=round(width * height / 1e6))
    if min(width, height) < MIN_SIDE_PX:
        raise UploadRefused("err_too_small")


def prove_decodable(data: bytes, kind: str) -> None:
    """Pillow parses the headers and tables (a JPEG) or decodes the image (a PNG, whose
    compressed stream has no cheaper proof of completeness), so a corrupt file is refused
    now."""
    from PIL import Image

    # Headers are already checked against MAX_PIXELS; keep Pillow's own guard consistent.
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as img:
            if kind != "jpeg":
                img.load()
    except OSError as exc:
        # Pillow says "image file is truncated" / "broken data stream" for cut-off files.
        text = str(exc).lower()
        raise UploadRefused(
            "err_truncated" if ("truncat" in text or "broken" in text) else "err_corrupt"
        ) from None
    except (ValueError, SyntaxError, Image.DecompressionBombError):
        raise UploadRefused("err_corrupt") from None


def check_image(data: bytes) -> ImageInfo:
    """Accept a complete JPEG or PNG photo of sane size; raise UploadRefused otherwise."""
    if not data:
        raise UploadRefused("err_empty")
    kind = sniff(data)
    if kind == "heic":
        raise UploadRefused("err_heic")
    if kind == "pdf":
        raise UploadRefused("err_pdf_not_allowed")
    if kind == "jpeg":
        width, height, frame_at = jpeg_size(data)
        check_dimensions(width, height)
        # Walked from the frame header on: an EXIF thumbnail's own end marker comes earlier.
        jpeg_complete(data, frame_at)
        prove_decodable(data, kind)
        return ImageInfo("jpeg", width, height, "image/jpeg")
    if kind == "png":
        width, height = png_size(data)
        check_dimensions(width, height)
        if b"IEND" not in data[-64:]:
            raise UploadRefused("err_truncated")
        prove_decodable(data, kind)
        return ImageInfo("png", width, height, "image/png")
    raise UploadRefused("err_not_image")


def pdf_pages_to_jpegs(data: bytes) -> list[bytes]:
    """Render each page of a scanned PDF as a JPEG the vision pipeline can read (PPK only)."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError:
        raise UploadRefused("err_pdf_bad") from None
    try:
        if len(pdf) == 0:
            raise UploadRefused("err_pdf_bad")
        if len(pdf) > MAX_PDF_PAGES:
            raise UploadRefused("err_pdf_pages", n=MAX_PDF_PAGES)
        out = []
        for index in range(len(pdf)):
            page = pdf[index]
            width_pt, height_pt = page.get_size()
            scale = PDF_RENDER_LONG_SIDE / max(width_pt, height_pt, 1.0)
            image = page.render(scale=scale, grayscale=False).to_pil().convert("RGB")
            buf = io.BytesIO()
            image.save(buf, format="JPEG", quality=92)
            out.append(buf.getvalue())
            page.close()
        return out
    finally:
        pdf.close()


def check_upload(data: bytes, *, allow_pdf: bool) -> list[tuple[bytes, str]]:
    """The photos to store from one uploaded file: [(bytes, content_type)]; a PDF gives one
    JPEG per page when allowed."""
    if allow_pdf and sniff(data) == "pdf":
        return [(jpeg, "image/jpeg") for jpeg in pdf_pages_to_jpegs(data)]
    info = check_image(data)
    return [(data, info.content_type)]
