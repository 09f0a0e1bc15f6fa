"""Checking uploaded files before decoding: kinds, header sizes, truncation, PDF pages."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from gateway.web.uploads import MAX_PDF_PAGES, UploadRefused, check_image, check_upload
from tests.gateway.test_web_support import jpeg_photo


def _refused(data: bytes, *, allow_pdf: bool = False) -> str:
    with pytest.raises(UploadRefused) as caught:
        check_upload(data, allow_pdf=allow_pdf)
    return caught.value.key


def _jpeg(**save: object) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (1200, 900), (200, 190, 180)).save(buf, format="JPEG", **save)
    return buf.getvalue()


def test_progressive_jpeg_is_accepted() -> None:
    info = check_image(_jpeg(progressive=True, quality=80))
    assert (info.kind, info.width, info.height) == ("jpeg", 1200, 900)


def test_thumbnail_end_marker_does_not_hide_a_truncated_photo() -> None:
    # EXIF with an embedded JPEG thumbnail: its end-of-image marker sits before the frame.
    thumb = io.BytesIO()
    Image.new("RGB", (160, 120), (0, 0, 0)).save(thumb, format="JPEG")
    exif = Image.Exif()
    photo = _jpeg(exif=exif.tobytes())
    with_thumb = photo[:2] + b"\xff\xe1" + (len(thumb.getvalue()) + 2).to_bytes(2, "big") + \
        thumb.getvalue() + photo[2:]
    assert check_image(with_thumb).kind == "jpeg"
    assert _refused(with_thumb[: len(with_thumb) - 500]) == "err_truncated"


def test_jpeg_frame_with_zero_width_is_refused() -> None:
    photo = jpeg_photo()
    sof = photo.index(b"\xff\xc0")
    zero = photo[: sof + 7] + b"\x00\x00" + photo[sof + 9 :]
    assert _refused(zero) == "err_corrupt"


def test_text_pretending_to_be_a_photo_is_refused() -> None:
    assert _refused(b"<html>foto.jpg</html>") == "err_not_image"
    assert _refused(b"\xff\xd8\xff") == "err_truncated"


def test_truncated_png_is_refused() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (900, 900), (10, 200, 30)).save(buf, format="PNG")
    assert _refused(buf.getvalue()[:-30]) == "err_truncated"


def test_pdf_pages_become_jpegs_only_when_allowed() -> None:
    buf = io.BytesIO()
    pages = [Image.new("RGB", (620, 877), (255, 255, 255 - 40 * i)) for i in range(2)]
    pages[0].save(buf, format="PDF", save_all=True, append_images=pages[1:], resolution=75)
    assert _refused(buf.getvalue()) == "err_pdf_not_allowed"
    photos = check_upload(buf.getvalue(), allow_pdf=True)
    assert len(photos) == 2 and all(kind == "image/jpeg" for _, kind in photos)
    with Image.open(io.BytesIO(photos[0][0])) as page:
        assert max(page.size) == 4000  # rendered like a 12 MP phone photo


def test_pdf_with_too_many_pages_is_refused() -> None:
    buf = io.BytesIO()
    pages = [Image.new("L", (100, 140), 255) for _ in range(MAX_PDF_PAGES + 1)]
    pages[0].save(buf, format="PDF", save_all=True, append_images=pages[1:])
    assert _refused(buf.getvalue(), allow_pdf=True) == "err_pdf_pages"


def _phone_photo() -> bytes:
    synthetic = pytest.importorskip("vision.synthetic")
    return bytes(synthetic.synthetic_photo(2, seed=5, width_px=3000, source="procedural").jpeg)


def test_a_photo_cut_off_anywhere_is_refused_as_truncated() -> None:
    photo = _phone_photo()
    assert check_image(photo).kind == "jpeg"
    for cut in (700, len(photo) // 3, len(photo) // 2, len(photo) - 3, len(photo) - 1):
        assert _refused(photo[:cut]) == "err_truncated", cut


def test_restart_markers_progressive_scans_and_trailers_are_complete_photos() -> None:
    assert check_image(_jpeg(quality=90, restart_marker_rows=1)).kind == "jpeg"
    assert check_image(_jpeg(progressive=True, optimize=True)).kind == "jpeg"
    # Phones append data after the end marker (motion-photo video, multi-picture images).
    assert check_image(_phone_photo() + b"ftypmp42" + bytes(5000)).kind == "jpeg"


def test_garbage_inside_the_compressed_picture_is_refused() -> None:
    photo = _phone_photo()
    scan = photo.index(b"\xff\xda")
    middle = (scan + len(photo)) // 2
    garbage = bytes(range(256)) * 64  # every byte value, FF followed by markers included
    assert _refused(photo[:middle] + garbage) in ("err_corrupt", "err_truncated")
    # Two pictures glued without their end marker: a second start-of-image inside.
    assert _refused(photo[:-2] + photo) == "err_corrupt"
