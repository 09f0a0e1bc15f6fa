"""Registration recovers the page homography from photos of rendered pages and of KPU's own
printed page, or says why not."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import cv2
import numpy as np
import pytest

from vision import fiducials, mark_search
from vision import register as register_module
from vision.photo_sim import photograph
from vision.pipeline import decode
from vision.register import Registration, RegistrationFailure, rectify, register
from vision.render import mm_to_px, render_page, render_template
from vision.synthetic import (
    SyntheticPhoto,
    filled_page,
    official_form_available,
    synthetic_photo,
    tps_values,
)
from vision.tags import find_tags, pyramid
from vision.template import template_for_page

DPI = 100.0
CHECK_POINTS_MM = np.array([[x, y] for x in (0.0, 300.0, 600.0) for y in (0.0, 450.0, 900.0)])


def _project(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.hstack([pts, np.ones((len(pts), 1))]) @ h.T
    return np.asarray(p[:, :2] / p[:, 2:3])


def _photo(page_img: np.ndarray, dst: Sequence[Sequence[float]], size: tuple[int, int],
           quality: int = 85, background: int = 70) -> tuple[np.ndarray, np.ndarray]:
    """Warp a rendered page into a photo frame and JPEG it; returns (photo, page px -> photo)."""
    h, w = page_img.shape
    src = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]],
                   dtype=np.float32)
    m = cv2.getPerspectiveTransform(src, np.array(dst, dtype=np.float32))
    warped = cv2.warpPerspective(page_img, m, size, flags=cv2.INTER_AREA,
                                 borderValue=background)
    ok, buf = cv2.imencode(".jpg", warped, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    photo = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    assert photo is not None
    return np.asarray(photo), np.asarray(m, dtype=np.float64)


def _registered(gray: np.ndarray) -> Registration:
    result = register(gray)
    assert isinstance(result, Registration), getattr(result, "reason", result)
    return result


@pytest.mark.parametrize("page", [1, 2, 3])
def test_rendered_page_registers_to_its_own_geometry(page: int) -> None:
    reg = _registered(render_page(page, DPI))
    assert reg.tag_id == 100 + page and reg.template.page == page
    assert reg.fiducials_found == 4
    truth = _project(mm_to_px(DPI), CHECK_POINTS_MM)
    assert np.abs(reg.project(CHECK_POINTS_MM) - truth).max() < 0.5
    assert reg.reprojection_error_px < 0.5


PHOTOS = {
    "perspective": ([[300, 250], [2700, 400], [2850, 3800], [150, 3650]], (3000, 4000)),
    "rotated_90": ([[3800, 200], [3700, 2800], [150, 2900], [250, 300]], (4000, 3000)),
    "upside_down": ([[2700, 3700], [350, 3750], [300, 250], [2750, 300]], (3000, 4000)),
    "small_in_frame": ([[1100, 1200], [1900, 1230], [1880, 2400], [1120, 2380]], (3000, 4000)),
}


@pytest.mark.parametrize("case", sorted(PHOTOS))
def test_photo_homography_recovered(case: str) -> None:
    dst, size = PHOTOS[case]
    photo, m = _photo(render_page(2, 120.0), dst, size)
    reg = _registered(photo)
    assert reg.tag_id == 102 and reg.fiducials_found == 4
    truth = _project(m @ mm_to_px(120.0), CHECK_POINTS_MM)
    scale = reg.px_per_mm_at((300.0, 450.0))
    # Anywhere on the page, within 0.3 mm of where the page point really is.
    assert np.abs(reg.project(CHECK_POINTS_MM) - truth).max() < 0.3 * scale
    assert reg.reprojection_error_mm < 0.3
    polygon = reg.page_polygon_px
    assert np.abs(polygon - _project(m @ mm_to_px(120.0), np.array(
        [[0, 0], [600, 0], [600, 900], [0, 900.0]]))).max() < 0.5 * scale


def test_the_page_outline_found_beside_the_tag_search_gives_the_same_fit() -> None:
    from concurrent.futures import ThreadPoolExecutor

    dst, size = PHOTOS["perspective"]
    photo, _ = _photo(render_page(1, 120.0), dst, size)
    alone = _registered(photo)
    with ThreadPoolExecutor(max_workers=1) as beside:
        together = register(photo, levels=pyramid(photo), beside=beside)
    assert isinstance(together, Registration)
    assert np.array_equal(together.homography, alone.homography)
    assert together.fiducials_px == alone.fiducials_px


def test_not_a_form_is_rejected_with_a_plain_reason() -> None:
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (1200, 900), dtype=np.uint8)
    result = register(cv2.GaussianBlur(noise, (5, 5), 0))
    assert isinstance(result, RegistrationFailure)
    assert "bukan halaman C.Hasil" in result.reason
    page = render_page(1, 50.0)
    page[150:320, 900:1100] = 255  # tag area blanked
    result = register(page)
    assert isinstance(result, RegistrationFailure) and "bukan halaman C.Hasil" in result.reason


def test_tag_of_another_form_is_named_and_unknown_tag_is_not_a_form() -> None:
    other = dataclasses.replace(template_for_page(1), tag_id=250)
    page = render_template(other, 60.0)
    named = register(page, other_forms={250: "C.HASIL-DPR halaman 1"})
    assert isinstance(named, RegistrationFailure)
    assert named.tag_id == 250 and "C.HASIL-DPR halaman 1" in named.reason
    unknown = register(page, other_forms={})
    assert isinstance(unknown, RegistrationFailure)
    assert "bukan halaman C.Hasil" in unknown.reason and unknown.tag_id == 250


def test_cut_off_page_registers_with_missing_fiducials() -> None:
    page = render_page(3, 80.0)
    cut = page[: page.shape[0] * 2 // 3]  # bottom third missing
    reg = _registered(cut)
    assert reg.fiducials_px[0] is not None and reg.fiducials_px[1] is not None
    assert reg.fiducials_px[2] is None and reg.fiducials_px[3] is None
    assert reg.fiducials_found == 2


def test_rectify_straightens_the_page() -> None:
    dst, size = PHOTOS["perspective"]
    photo, _ = _photo(render_page(1, 120.0), dst, size)
    reg = _registered(photo)
    flat = rectify(photo, reg, px_per_mm=2.0)
    assert flat.shape == (1800, 1200)
    reference = render_page(1, 2.0 * 25.4)
    diff = np.abs(flat.astype(int) - reference.astype(int))
    assert np.mean(diff) < 6
    box = reg.template.field("pengguna_total_j").boxes_mm[0]
    crop = rectify(photo, reg, px_per_mm=5.0, region_mm=box)
    assert crop.shape == (round(box[3] * 5), round(box[2] * 5))
    assert crop[5:-5, 5:-5].min() > 200  # an empty box interior, border excluded


@pytest.mark.parametrize("covered", [0, 2])
def test_a_corner_mark_under_a_thumb_is_replaced_by_the_printed_boxes(covered: int) -> None:
    dst, size = PHOTOS["perspective"]
    page = render_page(1, 120.0)
    template = template_for_page(1)
    to_page = mm_to_px(120.0)
    fid = template.fiducials[covered]
    centre = _project(to_page, np.array([fid.center_mm]))[0]
    cv2.circle(page, (round(centre[0]), round(centre[1])), round(25 * 120 / 25.4), 150, -1)
    photo, m = _photo(page, dst, size)
    reg = _registered(photo)
    assert reg.fiducials_px[covered] is None and reg.fiducials_found == 3
    assert reg.fields_matched == len(template.fields)
    boxes = np.array([(x + dx, y + dy) for f in template.fields for x, y, w, h in f.boxes_mm
                      for dx, dy in ((0, 0), (w, h))])
    scale = reg.px_per_mm_at((300.0, 450.0))
    # Every box corner within 0.5 mm of where it really is in the photo.
    assert np.abs(reg.project(boxes) - _project(m @ to_page, boxes)).max() < 0.5 * scale


def test_a_near_miss_is_kept_only_where_the_mark_really_is() -> None:
    # Under a poor first guess a corner mark can score under MIN_MATCH_SCORE at its true place
    # (drawn with the wrong shape) and as much on something else: each near miss is fitted
    # in and matched again, and only the true one matches there.
    dst, size = PHOTOS["perspective"]
    photo, _ = _photo(render_page(2, 120.0), dst, size)
    reg = _registered(photo)
    assert reg.fiducials_found == 4
    template, levels = reg.template, pyramid(photo)
    side = register_module.tag_side(reg.tag_corners_px)
    small, scale = fiducials.fiducial_level(levels, template, side)
    truth = [np.asarray(p) for p in reg.fiducials_px]
    found: list[tuple[float, float] | None] = [tuple(truth[0]), tuple(truth[1]), None, None]
    near_br = truth[2] * scale + (4.0, -3.0)  # off by a few small px, as a poor guess leaves it
    wrong_bl = (truth[3] + (-300.0, -900.0)) * scale  # printed matter elsewhere on the page
    near = {2: [(float(near_br[0]), float(near_br[1]), 0.45)],
            3: [(float(wrong_bl[0]), float(wrong_bl[1]), 0.5)]}
    fiducials.confirm_near_misses(
        photo, small, scale, template, np.array(template.tag_corners_mm), reg.tag_corners_px,
        found, side / template.tag_size_mm, near)
    assert found[2] is not None and np.hypot(*(np.asarray(found[2]) - truth[2])) < 1.0
    assert found[3] is None


official_art = pytest.mark.skipif(not official_form_available(),
                                  reason="KPU's PDF form (../shared/forms) is not here")


@official_art
@pytest.mark.parametrize("seed", [10_019, 10_028])
def test_photos_of_kpus_own_page_find_all_four_corner_marks(seed: int) -> None:
    # Page 2 as KPU prints it (tables and text beside the marks), shot at a slant: these were
    # told "page cut off" with all four corners in the frame (a bright strip beside the sheet
    # hid its outline; the first guess drew the bottom marks with the wrong shape).
    _assert_every_mark_and_box_in_place(synthetic_photo(2, seed=seed, artwork="official"))


@pytest.mark.parametrize(("page", "seed"), [(1, 10_078), (2, 10_151), (3, 10_062)])
def test_a_steeply_tilted_page_whose_outline_is_lost_finds_its_far_corner_marks(
        page: int, seed: int) -> None:
    # Benchmark photos of a page shot at a steep slant, its outline lost (a shadow over its
    # lower edge, a sheet touching it): the tag and the two marks beside it put the far marks
    # 600-900 px from where they are, drawn at half their size. These were refused as "page
    # cut off" with all four corners in the frame.
    _assert_every_mark_and_box_in_place(synthetic_photo(page, seed=seed))


def test_an_outline_holding_a_sheet_under_the_page_does_not_turn_it() -> None:
    # The page lies on another sheet and the bright outline holds both: its quad put the
    # tag's centre where it is but the page turned, and the bottom right mark was taken at
    # the top left one's place (a benchmark photo refused as "page cut off", "tilted 83x").
    _assert_every_mark_and_box_in_place(synthetic_photo(1, seed=10_003))


def _assert_every_mark_and_box_in_place(photo: SyntheticPhoto) -> None:
    gray = decode(photo.jpeg)  # as the reader decodes it
    assert gray is not None
    reg = _registered(gray)
    assert reg.fiducials_found == 4
    truth = photo.mm_to_photo([f.center_mm for f in reg.template.fiducials])
    assert np.hypot(*(np.array(reg.fiducials_px) - truth).T).max() < 1.5
    boxes = np.array([(x + w / 2, y + h / 2) for f in reg.template.fields
                      for x, y, w, h in f.boxes_mm])
    scale = reg.px_per_mm_at((300.0, 450.0))
    assert np.abs(reg.project(boxes) - photo.mm_to_photo(boxes)).max() < 1.0 * scale


def test_mark_spots_finds_each_corner_mark_and_not_the_writing() -> None:
    # A filled page 1 (digits, `X` fillers, the tag) turned 20 degrees: a spot at each mark,
    # none on the tag, and few others (box frames, writing: each is then tried against the
    # mark's drawn shape and loses to the mark).
    dpi = 40.0
    page = filled_page(1, tps_values(3)[1], seed=3, dpi=dpi)
    pad = 400
    gray = cv2.copyMakeBorder(cv2.cvtColor(page, cv2.COLOR_BGR2GRAY), pad, pad, pad, pad,
                              cv2.BORDER_CONSTANT, value=255)
    h, w = gray.shape
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), 20.0, 1.0)
    turned = cv2.warpAffine(gray, turn, (w, h), borderValue=255)
    template = template_for_page(1)
    to_px = np.vstack([turn, [0, 0, 1]]) @ np.array([[1, 0, pad], [0, 1, pad], [0, 0, 1]]) @ (
        mm_to_px(dpi))
    marks = _project(to_px, np.array([f.center_mm for f in template.fiducials]))
    axes = np.array([turn[:, 0], turn[:, 1]])
    square_px = dpi / 25.4 * template.fiducials[0].square_mm
    spots = mark_search.mark_spots(turned, square_px, axes)
    assert all(np.hypot(*(spots - m).T).min() < 1.5 for m in marks)
    tag = _project(to_px, np.array(template.tag_corners_mm)).mean(axis=0)
    assert np.hypot(*(spots - tag).T).min() > 2 * square_px
    # Few enough that every one is tried against each missing mark.
    assert len(spots) <= mark_search.SPOT_TRIES


def _wall(dpi: float = 100.0) -> tuple[np.ndarray, int, int]:
    """Pages 1, 2 and 3 hung side by side, as a PPK puts them up: the wall, a page's width
    and the gap between pages (px)."""
    values = tps_values(5)
    pages = [filled_page(k, values[k], seed=5, dpi=dpi) for k in (1, 2, 3)]
    h, w = pages[0].shape[:2]
    gap = int(0.04 * w)
    wall = np.full((h + 2 * gap, 3 * w + 4 * gap, 3), (150, 160, 170), np.uint8)
    for k, page in enumerate(pages):
        wall[gap:gap + h, gap + k * (w + gap):gap + k * (w + gap) + w] = page
    return wall, w, gap


def _with_neighbours(page: int, share: float, seed: int) -> np.ndarray:
    """A photo of `page` on the wall with `share` of each neighbour's width beside it."""
    wall, w, gap = _wall()
    left = gap + (page - 1) * (w + gap)
    shown = np.ascontiguousarray(wall[:, max(0, int(left - share * w)):
                                      int(left + w + share * w)])
    gray = decode(photograph(shown, np.random.default_rng(seed), "easy", width_px=4000).jpeg)
    assert gray is not None
    return gray


@pytest.mark.parametrize(("page", "seed"), [(2, 0), (2, 1), (3, 0)])
def test_a_page_photographed_with_its_neighbours_tag_in_view_is_read(page: int,
                                                                       seed: int) -> None:
    # A quarter of each neighbour in the frame: the left one's tag (its top right corner) is
    # beside the page's top left. Such photos were refused as "more than one page".
    gray = _with_neighbours(page, 0.25, seed)
    assert len(set(find_tags(pyramid(gray), (101, 102, 103))[1])) == 2
    reg = register(gray)
    assert isinstance(reg, Registration)
    assert reg.template.page == page and reg.fiducials_found == 4


def test_the_page_is_found_when_the_tag_search_stops_at_its_neighbours() -> None:
    # Here the first search finds only the neighbour's tag; the page was placed on page 1
    # and told "cut off".
    gray = _with_neighbours(2, 0.4, 3)
    assert find_tags(pyramid(gray), (101, 102, 103))[1] == [101]
    reg = register(gray)
    assert isinstance(reg, Registration)
    assert reg.template.page == 2 and reg.fiducials_found == 4


def test_two_whole_pages_in_one_photo_are_refused() -> None:
    wall, w, gap = _wall()
    shot = photograph(np.ascontiguousarray(wall[:, :2 * w + 3 * gap]),
                      np.random.default_rng(0), "easy", width_px=4000)
    gray = decode(shot.jpeg)
    assert gray is not None
    reg = register(gray)
    assert isinstance(reg, RegistrationFailure)
    assert reg.reason == register_module.MORE_THAN_ONE_PAGE


def _two_sheets(share: float, seed: int) -> np.ndarray:
    """This TPS's page 1 with `share` of another TPS's page 1 beside it on the table."""
    dpi = 100.0
    ours = filled_page(1, tps_values(5)[1], seed=5, dpi=dpi)
    theirs = filled_page(1, tps_values(6)[1], seed=6, dpi=dpi)
    h, w = ours.shape[:2]
    gap = int(0.04 * w)
    table = np.full((h + 2 * gap, 2 * w + 3 * gap, 3), (110, 120, 130), np.uint8)
    table[gap:gap + h, gap:gap + w] = theirs
    table[gap:gap + h, 2 * gap + w:2 * gap + 2 * w] = ours
    shown = np.ascontiguousarray(table[:, max(0, int(2 * gap + w - share * w)):])
    gray = decode(photograph(shown, np.random.default_rng(seed), "easy", width_px=4000).jpeg)
    assert gray is not None
    return gray


@pytest.mark.parametrize("seed", [0, 1])
def test_another_tps_sheet_of_the_same_page_is_never_read_for_this_one(seed: int) -> None:
    # Two TPS's page 1 on one table: each tag is page 1's. The first tag found was read,
    # whichever sheet it was on: with both sheets whole, seed 1 read the other TPS's numbers
    # and accepted them. A sheet with its corners out of the frame is a neighbour.
    reg = register(_two_sheets(0.25, seed))
    assert isinstance(reg, Registration) and reg.fiducials_found == 4
    assert reg.page_polygon_px[:, 0].min() > 0  # ours: the whole sheet, on the right
    both = register(_two_sheets(1.04, seed))
    assert isinstance(both, RegistrationFailure)
    assert both.reason == register_module.MORE_THAN_ONE_PAGE
