"""Synthetic filled forms and photos: consistent numbers, truthful boxes, real JPEGs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from vision import handwriting
from vision.pen_ink import marker_line, pen_floor
from vision.render import render_page
from vision.synthetic import (
    BIG_WRITING,
    MARKER_MM,
    PEN_MM,
    SMALL_WRITING,
    blank_photo,
    filled_page,
    non_form_photo,
    official_form_available,
    synthetic_photo,
    tps_values,
)
from vision.template import TEMPLATE_DIR, Rule, load_templates, template_for_page
from vision.tps_numbers import box_text

ROOT = Path(__file__).resolve().parents[2]


def _all_rules() -> list[Rule]:
    rules = [r for t in load_templates().values() for r in t.rules]
    cross = json.loads((TEMPLATE_DIR / "tps_rules.json").read_text(encoding="utf-8"))
    return rules + [Rule.from_dict(r) for r in cross["rules"]]


def _holds(rule: Rule, values: dict[str, int], params: dict[str, int]) -> bool:
    """The rule format of DEVELOPERS.md: sum(lhs) op sum(rhs) + rhs_const + params[rhs_param]."""
    left = sum(values[name] for name in rule.lhs)
    parts = sum(values[name] for name in rule.rhs)
    right = parts + rule.rhs_const + math.ceil(parts * rule.rhs_pct / 100)
    if rule.rhs_param is not None:
        right += params[rule.rhs_param]
    compare = {"eq": left == right, "le": left <= right, "ge": left >= right}
    return compare[rule.op]


@pytest.mark.parametrize("dpt", [None, 1, 17, 150, 300])
def test_tps_values_satisfy_every_rule_of_the_form(dpt: int | None) -> None:
    rules = _all_rules()
    assert len(rules) >= 20
    assert any(r.soft for r in rules)
    soft_kept = 0
    for seed in range(150):
        pages = tps_values(seed, dpt=dpt)
        assert sorted(pages) == [1, 2, 3]
        for page, values in pages.items():
            assert set(values) == set(template_for_page(page).field_names)
        merged = pages[1] | pages[2] | pages[3]
        tps_dpt = dpt if dpt is not None else merged["pemilih_dpt_j"]
        assert tps_dpt <= 300
        # Soft rules are usual, not laws: most TPS keep them, some do not.
        broken = [r.id for r in rules if not r.soft and not _holds(r, merged, {"dpt": tps_dpt})]
        assert not broken, f"seed {seed}: {broken}"
        soft_kept += all(_holds(r, merged, {"dpt": tps_dpt}) for r in rules if r.soft)
        assert all(v >= 0 for v in merged.values())
        received = merged["surat_suara_diterima"]
        assert tps_dpt - 3 <= received <= tps_dpt + math.ceil(0.02 * tps_dpt) + 5
        counts = [v for k, v in merged.items()
                  if not k.startswith(("surat_suara_diterima", "surat_suara_sisa",
                                            "surat_suara_rusak", "tanggal"))]
        assert max(counts) <= tps_dpt
        # Election day, or the next when the count ran past midnight.
        assert merged["tanggal_hari"] in (14, 15)
        assert (merged["tanggal_bulan"], merged["tanggal_tahun"]) == (2, 2024)
    # About 85% of TPS receive exactly DPT + 2% (rounded up); the rest differ a little.
    assert 0.7 * 150 <= soft_kept < 150


def test_tps_values_are_deterministic_and_vary_by_seed() -> None:
    assert tps_values(5) == tps_values(5)
    assert tps_values(5) != tps_values(6)
    with pytest.raises(ValueError, match="300"):
        tps_values(1, dpt=301)


def test_box_text_right_aligns_with_the_officers_filler() -> None:
    assert box_text(32, 3, "X") == "X32"
    assert box_text(32, 3, "_") == "_32"
    assert box_text(32, 3, "0") == "032"
    assert box_text(0, 3, "X") == "XX0"
    assert box_text(None, 3, "X") == "___"
    assert box_text(2, 2, "X", date=True) == "02"
    with pytest.raises(ValueError, match="does not fit"):
        box_text(1000, 3, "X")


def _value_of(text: str) -> int | None:
    if set(text) == {"_"}:
        return None
    digits = text.lstrip("X_0")
    return int(digits) if digits else 0


def test_photo_truth_matches_what_is_written() -> None:
    fillers: set[str] = set()
    for seed in range(12):
        for page in (1, 2, 3):
            photo = synthetic_photo(page, seed=seed, width_px=400, source="procedural")
            template = template_for_page(page)
            assert photo.page == page
            assert photo.values == tps_values(seed)[page]
            for spec in template.fields:
                text = photo.boxes[spec.name]
                assert len(text) == len(spec.boxes_mm)
                assert _value_of(text) == photo.values[spec.name], (spec.name, text)
                lead = text[: len(text) - len(str(photo.values[spec.name]))]
                fillers |= set(lead)
            for name, marks in photo.bubbles.items():
                text = photo.boxes[name]
                for box, digit in enumerate(marks):
                    if digit is not None and text[box].isdigit():
                        assert digit == int(text[box])
    assert fillers == {"X", "_", "0"}, "officers fill leading boxes all three ways"


def test_same_seed_gives_the_same_jpeg_at_the_asked_size() -> None:
    a = synthetic_photo(2, seed=7, width_px=900, source="procedural")
    b = synthetic_photo(2, seed=7, width_px=900, source="procedural")
    c = synthetic_photo(2, seed=8, width_px=900, source="procedural")
    assert a.jpeg == b.jpeg and a.jpeg != c.jpeg
    image = cv2.imdecode(np.frombuffer(a.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (1200, 900, 3)


def test_empty_and_partial_values() -> None:
    photo = synthetic_photo(3, seed=1, values={"suara_sah": 120, "suara_tidak_sah": None},
                            width_px=400, source="procedural")
    assert photo.values == {"suara_sah": 120}
    assert photo.boxes["suara_tidak_sah"] == "___"
    assert photo.boxes["tanggal_tahun"] == "____"
    blank = blank_photo(1, seed=3, width_px=400)
    assert blank.values == {} and set("".join(blank.boxes.values())) == {"_"}


def test_bad_values_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="no fields suara_paslon_1"):
        synthetic_photo(1, seed=1, values={"suara_paslon_1": 3})
    with pytest.raises(ValueError, match="does not fit"):
        synthetic_photo(2, seed=1, values={"suara_paslon_1": 1000})
    with pytest.raises(ValueError, match="page"):
        synthetic_photo(4, seed=1)
    with pytest.raises(ValueError, match="difficulty"):
        synthetic_photo(1, seed=1, difficulty="brutal")


def test_blank_page_has_no_ink_and_filled_ink_stays_in_the_boxes() -> None:
    dpi = 60.0
    k = dpi / 25.4
    for page in (1, 2, 3):
        template = template_for_page(page)
        printed = cv2.cvtColor(render_page(page, dpi), cv2.COLOR_GRAY2BGR)
        assert np.array_equal(filled_page(page, {}, seed=1, dpi=dpi), printed)
        filled = filled_page(page, tps_values(3)[page], seed=3, dpi=dpi, source="procedural")
        changed = np.abs(filled.astype(int) - printed.astype(int)).max(axis=2) > 10
        allowed = np.zeros(changed.shape, bool)
        for spec in template.fields:
            x, y, w, h = spec.bbox_mm
            pad = 3.0
            allowed[int((y - pad) * k):int((y + h + pad) * k) + 1,
                    int((x - pad) * k):int((x + w + pad) * k) + 1] = True
            for column in spec.bubbles:
                for cx, cy in column.centers_mm:
                    r = column.radius_mm * 1.6
                    allowed[int((cy - r) * k):int((cy + r) * k) + 1,
                            int((cx - r) * k):int((cx + r) * k) + 1] = True
        assert changed.sum() > 100, "numbers were written"
        assert not (changed & ~allowed).any(), "ink only in and around the boxes"
        ink = filled[changed & (filled.max(axis=2) < 160)]
        blue_minus_red = ink[:, 0].astype(int) - ink[:, 2].astype(int)
        assert (blue_minus_red >= -8).mean() > 0.95, "ballpoint: blue or black, never red"


def test_page2_bubbles_are_filled_where_the_truth_says() -> None:
    dpi = 100.0
    k = dpi / 25.4
    template = template_for_page(2)
    for seed in range(4):
        photo = synthetic_photo(2, seed=seed, width_px=300, source="procedural")
        gray = cv2.cvtColor(filled_page(2, photo.values, seed=seed, dpi=dpi,
                                        source="procedural"), cv2.COLOR_BGR2GRAY)
        for spec in template.fields:
            marks = photo.bubbles[spec.name]
            for column, digit in zip(spec.bubbles, marks, strict=True):
                darkness = []
                for cx, cy in column.centers_mm:
                    r = max(1, int(column.radius_mm * 0.5 * k))
                    patch = gray[int(cy * k) - r:int(cy * k) + r, int(cx * k) - r:int(cx * k) + r]
                    darkness.append(255 - float(patch.mean()))
                darkest = int(np.argmax(darkness))
                if digit is None:
                    assert max(darkness) < 60
                else:
                    assert darkest == digit
                    assert darkness[digit] > 60


def _detect_tags(jpeg: bytes) -> tuple[list[int], list[np.ndarray]]:
    gray = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert gray is not None
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_APRILTAG_36h10)
    corners, ids, _ = cv2.aruco.ArucoDetector(dictionary).detectMarkers(gray)
    return ([] if ids is None else [int(i) for i in ids.ravel()]), list(corners)


@pytest.mark.parametrize("difficulty", ["easy", "normal"])
def test_geometry_truth_puts_the_tag_where_a_detector_finds_it(difficulty: str) -> None:
    found = 0
    for seed in range(4):
        page = 1 + seed % 3
        photo = synthetic_photo(page, seed=seed, width_px=2000, difficulty=difficulty,
                                source="procedural")
        ids, corners = _detect_tags(photo.jpeg)
        template = template_for_page(page)
        if template.tag_id not in ids:
            continue
        found += 1
        detected = corners[ids.index(template.tag_id)].reshape(4, 2)
        expected = photo.mm_to_photo(template.tag_corners_mm)
        # Same corners (the detector may start at another one): nearest distances.
        gaps = [np.min(np.linalg.norm(detected - p, axis=1)) for p in expected]
        assert max(gaps) < 4.0, gaps
    assert found >= 3, "the tag is detectable in most easy/normal photos"


def test_non_form_photo_is_a_document_without_a_tag() -> None:
    for seed in range(3):
        photo = non_form_photo(seed, width_px=1200)
        assert photo.page == 0 and photo.values == {}
        assert photo.jpeg == non_form_photo(seed, width_px=1200).jpeg
        assert not [i for i in _detect_tags(photo.jpeg)[0] if 101 <= i <= 103]


def test_generator_works_without_shared(monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    monkeypatch.setenv("TITIK_SHARED", str(tmp_path / "absent"))
    assert not handwriting.mnist_available()
    photo = synthetic_photo(1, seed=4, width_px=600)  # source="auto" falls back
    forced = synthetic_photo(1, seed=4, width_px=600, source="procedural")
    assert photo.jpeg == forced.jpeg, "without MNIST, auto is the procedural hand"
    assert cv2.imdecode(np.frombuffer(photo.jpeg, np.uint8), cv2.IMREAD_COLOR) is not None
    handwriting._mnist_by_label.cache_clear()
    with pytest.raises(FileNotFoundError, match="procedural"):
        handwriting.glyph("3", np.random.default_rng(0), "mnist")


def _ink_heights(image: np.ndarray, printed: np.ndarray, page: int, k: float) -> list[float]:
    """Per written box: the ink's height as a share of the box's."""
    changed = np.abs(image.astype(int) - printed.astype(int)).max(axis=2) > 40
    shares = []
    for spec in template_for_page(page).fields:
        for x, y, w, h in spec.boxes_mm:
            rows = np.flatnonzero(changed[round(y * k) + 2:round((y + h) * k) - 2,
                                          round(x * k) + 2:round((x + w) * k) - 2].any(axis=1))
            if rows.size:
                shares.append((rows[-1] - rows[0] + 1) / (h * k))
    return shares


def test_small_writing_is_the_same_officer_writing_smaller() -> None:
    # Officers in the 2019 scans wrote digits 19-47% of the box high (median 35%); the
    # default hand writes bigger. The same seed keeps the officer, numbers and camera.
    dpi = 150.0
    k = dpi / 25.4
    printed = cv2.cvtColor(render_page(1, dpi), cv2.COLOR_GRAY2BGR)
    values = tps_values(5)[1]
    normal = _ink_heights(filled_page(1, values, seed=5, dpi=dpi), printed, 1, k)
    small = _ink_heights(filled_page(1, values, seed=5, dpi=dpi, sizes=SMALL_WRITING),
                         printed, 1, k)
    assert len(small) == len(normal) > 20
    assert 0.25 <= float(np.median(small)) <= 0.5 < float(np.median(normal))
    assert float(np.median(normal)) > 1.4 * float(np.median(small))
    a, b = synthetic_photo(1, seed=5), synthetic_photo(1, seed=5, sizes=SMALL_WRITING)
    assert a.boxes == b.boxes and a.values == b.values and a.jpeg != b.jpeg
    assert a.homography_mm is not None and b.homography_mm is not None
    assert np.allclose(a.homography_mm, b.homography_mm), "the same camera"


def test_a_glyph_scaled_down_keeps_a_pens_line() -> None:
    k = 8.0  # px per mm: the pen's line is 3.2 px
    hair = np.zeros((40, 40), np.uint8)
    cv2.line(hair, (10, 5), (12, 35), 255, 1, cv2.LINE_AA)
    widened = pen_floor(hair, PEN_MM * k)
    assert widened.sum() > 1.4 * hair.sum(), "a hair-thin line gets a pen's width"
    marker = np.zeros((40, 40), np.uint8)
    cv2.line(marker, (10, 5), (12, 35), 255, 4, cv2.LINE_AA)
    assert np.array_equal(pen_floor(marker, PEN_MM * k), marker), "a wide line is left as is"


def test_kpus_own_page_without_shared_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TITIK_SHARED", str(tmp_path))
    assert not official_form_available()
    with pytest.raises(FileNotFoundError, match="artwork='render'"):
        filled_page(1, {}, seed=1, dpi=37.0, artwork="official")


@pytest.mark.skipif(not official_form_available(),
                    reason="KPU's PDF form (../shared/forms) is not here")
def test_kpus_own_page_carries_what_the_render_leaves_out_on_the_same_grid() -> None:
    render = filled_page(1, {}, seed=1, dpi=40.0)
    official = filled_page(1, {}, seed=1, dpi=40.0, artwork="official")
    assert official.shape == render.shape
    # More print (tables, text, logo) on KPU's page than on ours, which draws only boxes,
    # tag and marks; those sit on the same pixels, so the printed box borders coincide.
    assert (official < 128).sum() > 1.5 * (render < 128).sum()
    borders = render[..., 0] < 60
    assert np.mean(official[..., 0][borders] < 128) > 0.8


def test_a_marker_draws_the_glyph_with_its_line_and_cuts_nothing_off() -> None:
    hair = np.zeros((40, 20), np.uint8)
    cv2.line(hair, (1, 1), (18, 38), 255, 1, cv2.LINE_AA)  # from corner to corner
    drawn = marker_line(hair, 9.0)
    assert drawn.shape[0] > hair.shape[0] and drawn.shape[1] > hair.shape[1]
    ink = (drawn > 127).astype(np.uint8)
    outline = int(ink.sum()) - int(cv2.erode(ink, np.ones((3, 3), np.uint8)).sum())
    # Area over half the outline, which counts the line's two ends too: a little under 9.
    assert 6.0 <= ink.sum() / (outline / 2.0) <= 10.0, "a 9 px line"
    assert np.array_equal(marker_line(drawn, 4.0), drawn), "a wider line is left as is"


def test_a_page_filled_with_a_marker_is_the_same_officer_with_a_wider_line() -> None:
    # KPPS often fill the plano with a felt-tip marker (spidol). The same seed keeps the
    # officer, the numbers and the camera; only the pen changes.
    dpi = 100.0
    values = tps_values(5)[1]
    printed = filled_page(1, {}, seed=5, dpi=dpi)
    ballpoint = filled_page(1, values, seed=5, dpi=dpi, source="procedural")
    marker = filled_page(1, values, seed=5, dpi=dpi, source="procedural", pen_mm=MARKER_MM)

    def inked(page: np.ndarray) -> int:
        return int((np.abs(page.astype(int) - printed.astype(int)).max(axis=2) > 60).sum())

    assert inked(marker) > 1.5 * inked(ballpoint)
    a = synthetic_photo(1, seed=5, source="procedural")
    b = synthetic_photo(1, seed=5, source="procedural", pen_mm=MARKER_MM)
    assert a.boxes == b.boxes and a.values == b.values and a.jpeg != b.jpeg
    assert a.homography_mm is not None and b.homography_mm is not None
    assert np.allclose(a.homography_mm, b.homography_mm), "the same camera"


def _spilling(image: np.ndarray, printed: np.ndarray, page: int, k: float) -> tuple[int, int]:
    """Written boxes, and those whose ink reaches more than 1 mm over the top or bottom line
    (within the box's columns, closer than the next row's boxes)."""
    changed = np.abs(image.astype(int) - printed.astype(int)).max(axis=2) > 40
    written = spilling = 0
    for spec in template_for_page(page).fields:
        for x, y, w, h in spec.boxes_mm:
            cols = slice(round((x + 2) * k), round((x + w - 2) * k))
            if not changed[round(y * k) + 2:round((y + h) * k) - 2, cols].any():
                continue
            written += 1
            line = spec.line_mm
            above = changed[round((y - line - 3) * k):round((y - line - 1) * k), cols]
            below = changed[round((y + h + line + 1) * k):round((y + h + line + 3) * k), cols]
            spilling += bool(above.any() or below.any())
    return written, spilling


def test_big_writing_runs_over_the_box_lines_and_stays_the_same_officer() -> None:
    # Officers whose hand is big for the box write over its lines; the default hand rarely
    # touches them. The same seed keeps the officer, numbers and camera.
    dpi = 100.0
    k = dpi / 25.4
    printed = cv2.cvtColor(render_page(1, dpi), cv2.COLOR_GRAY2BGR)
    values = tps_values(5)[1]
    written, spilling = _spilling(filled_page(1, values, seed=5, dpi=dpi, sizes=BIG_WRITING),
                                  printed, 1, k)
    written_normal, spilling_normal = _spilling(filled_page(1, values, seed=5, dpi=dpi),
                                                printed, 1, k)
    # The same boxes written (the officer's numbers, `boxes` below); a big hand's spill may
    # also reach into a neighbour left empty.
    assert written >= written_normal > 20
    assert spilling > 0.4 * written
    assert spilling_normal < 0.1 * written_normal
    a, b = synthetic_photo(1, seed=5), synthetic_photo(1, seed=5, sizes=BIG_WRITING)
    assert a.boxes == b.boxes and a.values == b.values and a.jpeg != b.jpeg
    assert a.homography_mm is not None and b.homography_mm is not None
    assert np.allclose(a.homography_mm, b.homography_mm), "the same camera"
