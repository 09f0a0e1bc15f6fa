"""Cell crops line up with the boxes: marks put into chosen boxes show up in those crops only."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from vision.cells import (
    CELL_PX_PER_MM,
    CLOSER_PX_PER_MM,
    FRAME_MARGIN_MM,
    FRAMED_PX_PER_MM,
    ROOM_CLEAR_MM,
    WIDER_MARGIN_MM,
    box_frame,
    crop_cells,
    crop_framed,
    room_above_below_mm,
)
from vision.register import Registration, register
from vision.render import render_page
from vision.template import template_for_page

DPI = 120.0
MARKED = {("pengguna_total_j", 0), ("pemilih_dpt_l", 2), ("surat_suara_sisa", 1),
          ("pengguna_disabilitas_p", 0)}


def _marked_page() -> np.ndarray:
    """Page 1 with a dark 6 mm square in the centre of each MARKED box, photographed paper."""
    template = template_for_page(1)
    page = render_page(1, DPI)
    k = DPI / 25.4
    for name, index in MARKED:
        x, y, w, h = template.field(name).boxes_mm[index]
        cx, cy = x + w / 2, y + h / 2
        rows = slice(round((cy - 3) * k), round((cy + 3) * k))
        page[rows, round((cx - 3) * k): round((cx + 3) * k)] = 40
    return (30 + page.astype(np.float32) * (180 / 255)).astype(np.uint8)


def _photo(page: np.ndarray) -> np.ndarray:
    h, w = page.shape
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    dst = np.array([[2750, 3700], [300, 3800], [250, 300], [2800, 200]],  # upside down
                   dtype=np.float32)
    warped = cv2.warpPerspective(page, cv2.getPerspectiveTransform(src, dst), (3000, 4000),
                                 flags=cv2.INTER_AREA, borderValue=60)
    ok, buf = cv2.imencode(".jpg", warped, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    photo = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    assert photo is not None
    return np.asarray(photo)


def _registered() -> tuple[np.ndarray, Registration]:
    """The marked page 1, photographed upside down, and its registration."""
    photo = _photo(_marked_page())
    reg = register(photo)
    assert isinstance(reg, Registration), reg
    return photo, reg


def test_marks_land_in_their_crops_and_borders_stay_out() -> None:
    photo, reg = _registered()
    cells = crop_cells(photo, reg)
    template = template_for_page(1)
    assert list(cells) == list(template.field_names)
    for field in template.fields:
        crops = cells[field.name]
        assert len(crops) == len(field.boxes_mm)
        for index, (crop, box) in enumerate(zip(crops, field.boxes_mm, strict=True)):
            assert crop.dtype == np.uint8
            assert abs(crop.shape[1] - (box[2] - 1.6) * CELL_PX_PER_MM) <= 1
            assert abs(crop.shape[0] - (box[3] - 1.6) * CELL_PX_PER_MM) <= 1
            h, w = crop.shape
            centre = crop[h // 2 - 4: h // 2 + 4, w // 2 - 4: w // 2 + 4]
            if (field.name, index) in MARKED:
                assert centre.mean() < 100, (field.name, index)
                # The mark is centred: its dark area is symmetric within a pixel or two.
                dark = np.argwhere(crop < 120)
                mid = dark.mean(axis=0)
                assert abs(mid[0] - (h - 1) / 2) < 2 and abs(mid[1] - (w - 1) / 2) < 2
                edge = np.concatenate([crop[:3].ravel(), crop[-3:].ravel(),
                                       crop[:, :3].ravel(), crop[:, -3:].ravel()])
                assert edge.min() > 150, (field.name, index)
            else:
                # Blank box: paper only, no border remnant anywhere in the crop.
                assert crop.min() > 150, (field.name, index, int(crop.min()))


def test_page3_date_boxes_and_page2_result_boxes_crop() -> None:
    for page in (2, 3):
        img = (30 + render_page(page, DPI).astype(np.float32) * (180 / 255)).astype(np.uint8)
        reg = register(img)
        assert isinstance(reg, Registration), reg
        cells = crop_cells(img, reg, px_per_mm=6.0)
        template = template_for_page(page)
        assert {n: len(c) for n, c in cells.items()} == {
            f.name: len(f.boxes_mm) for f in template.fields}
        for name, crops in cells.items():
            for crop in crops:
                assert crop.min() > 150, name


def test_framed_crops_hold_the_box_its_printed_frame_and_a_margin_of_paper() -> None:
    photo, reg = _registered()
    framed = crop_framed(photo, reg)
    template = template_for_page(1)
    assert list(framed) == list(template.field_names)
    for field in template.fields:
        for index, (crop, frame) in enumerate(framed[field.name]):
            # The field is straightened once and its boxes sliced from it so that each frame
            # lies within half a pixel of where a crop of its own rounds it (the boxes then
            # go through `framedprep` as one stack), and its Frame says where exactly.
            own = box_frame(field.boxes_mm[index], field.line_mm)
            assert frame.key() == own.key()
            assert abs(frame.x - round(own.x)) <= 0.5 and abs(frame.y - round(own.y)) <= 0.5
            assert (frame.w, frame.h, frame.line) == (own.w, own.h, own.line)
            assert crop.shape == (round(own.h + 2 * own.y), round(own.w + 2 * own.x))
            assert crop.shape[0] == pytest.approx(frame.h + 2 * frame.y, abs=1)
            # The printed line runs where the frame says, within registration's error.
            mid = round(frame.y + frame.h / 2)
            left_line = crop[mid, max(0, round(frame.x - frame.line) - 2): round(frame.x) + 2]
            top_line = crop[max(0, round(frame.y - frame.line) - 2): round(frame.y) + 2, mid]
            assert left_line.min() < 100 and top_line.min() < 100, (field.name, index)
            # The interior, inset past the line, holds the mark or bare paper.
            inner = crop[round(frame.y) + 3: round(frame.y + frame.h) - 3,
                         round(frame.x) + 3: round(frame.x + frame.w) - 3]
            if (field.name, index) in MARKED:
                assert inner.min() < 100, (field.name, index)
            else:
                assert inner.min() > 150, (field.name, index)


def test_a_closer_look_cuts_only_the_boxes_asked_for_at_its_own_scale() -> None:
    photo, reg = _registered()
    asked = {"surat_suara_sisa": [1, 2], "pemilih_dpt_l": [0, 2]}
    closer = crop_framed(photo, reg, px_per_mm=CLOSER_PX_PER_MM, only=asked)
    usual = crop_framed(photo, reg)
    # The template's order, whatever the order asked in.
    assert list(closer) == [n for n in template_for_page(1).field_names if n in asked]
    scale = CLOSER_PX_PER_MM / FRAMED_PX_PER_MM
    for name, places in asked.items():
        assert len(closer[name]) == len(places)
        for (near, frame), place in zip(closer[name], places, strict=True):
            far, usual_frame = usual[name][place]
            assert frame.px_per_mm == CLOSER_PX_PER_MM
            assert frame.w == pytest.approx(usual_frame.w * scale)
            assert near.shape[0] == pytest.approx(far.shape[0] * scale, abs=1)
            # The marked boxes are marked at the closer scale too, the others bare paper.
            inner = near[round(frame.y) + 3: round(frame.y + frame.h) - 3,
                         round(frame.x) + 3: round(frame.x + frame.w) - 3]
            assert (inner.min() < 100) == ((name, place) in MARKED), (name, place)


def test_a_taller_crop_takes_the_paper_above_and_below_and_keeps_the_box_in_its_frame() -> None:
    photo, reg = _registered()
    room = room_above_below_mm(reg.template)
    asked = {"surat_suara_sisa": [1], "pemilih_dpt_l": [2]}
    taller = crop_framed(photo, reg, only=asked, margin_y_mm=room)
    usual = crop_framed(photo, reg)
    for name, places in asked.items():
        (crop, frame), = taller[name]
        plain, plain_frame = usual[name][places[0]]
        more = (room[name] - FRAME_MARGIN_MM) * FRAMED_PX_PER_MM
        assert more > 3, "page 1 leaves ~3.4 mm above and below its boxes, not 1.5"
        assert crop.shape[1] == plain.shape[1], "no wider: a field's boxes stand close"
        assert crop.shape[0] == pytest.approx(plain.shape[0] + 2 * more, abs=1)
        assert frame.y == pytest.approx(plain_frame.y + more, abs=1)
        assert (frame.x, frame.w, frame.h) == (plain_frame.x, plain_frame.w, plain_frame.h)
        inner = crop[round(frame.y) + 3: round(frame.y + frame.h) - 3,
                     round(frame.x) + 3: round(frame.x + frame.w) - 3]
        assert inner.min() < 100, "the marked box's mark, where the frame says"


def test_room_above_and_below_is_the_forms_clear_paper_less_a_margin_within_bounds() -> None:
    for page in (1, 2, 3):
        template = template_for_page(page)
        room = room_above_below_mm(template)
        for field in template.fields:
            assert field.room_mm is not None, field.name
            want = min(field.room_mm) - ROOM_CLEAR_MM
            assert room[field.name] == pytest.approx(
                max(FRAME_MARGIN_MM, min(WIDER_MARGIN_MM, want)))
    # A template measured before `room_mm` existed: the usual crop, never taller.
    bare = replace(template_for_page(3), fields=tuple(
        replace(f, room_mm=None) for f in template_for_page(3).fields))
    assert set(room_above_below_mm(bare).values()) == {FRAME_MARGIN_MM}
