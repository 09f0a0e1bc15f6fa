"""Phone-photo simulation: deterministic, the asked size, the page where the geometry says."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vision.photo_sim import DIM_LIGHT, Light, SimulatedPhoto, photograph, simulate_photo


def _page() -> np.ndarray:
    """A 2:3 page with a ruled grid and a solid black marker in its top-left corner."""
    page = np.full((900, 600), 255, np.uint8)
    for y in range(100, 880, 40):
        cv2.line(page, (40, y), (560, y), 0, 2)
    cv2.rectangle(page, (20, 20), (80, 80), 0, -1)
    return page


def _decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_same_seed_gives_the_same_bytes() -> None:
    a = simulate_photo(_page(), np.random.default_rng(42), "normal", width_px=600)
    b = simulate_photo(_page(), np.random.default_rng(42), "normal", width_px=600)
    c = simulate_photo(_page(), np.random.default_rng(43), "normal", width_px=600)
    assert a == b
    assert a != c


@pytest.mark.parametrize(("width", "height", "expected"), [
    (600, None, (800, 600)), (1200, 900, (900, 1200)), (3000, None, (4000, 3000)),
    (4000, None, (3000, 4000))])
def test_jpeg_decodes_at_the_asked_size(width: int, height: int | None,
                                        expected: tuple[int, int]) -> None:
    jpeg = simulate_photo(_page(), np.random.default_rng(1), "normal", width_px=width,
                          height_px=height)
    assert jpeg[:2] == b"\xff\xd8"
    assert _decode(jpeg).shape[:2] == expected


@pytest.mark.parametrize("difficulty", ["easy", "normal", "hard"])
def test_page_lands_where_the_homography_says(difficulty: str) -> None:
    page = _page()
    for seed in range(6):
        shot = photograph(page, np.random.default_rng(seed), difficulty, width_px=900)
        photo = cv2.cvtColor(_decode(shot.jpeg), cv2.COLOR_BGR2GRAY)
        h, w = photo.shape
        corners = cv2.perspectiveTransform(
            np.array([[[0, 0], [600, 0], [600, 900], [0, 900]]], np.float32), shot.homography)[0]
        assert (corners >= -1).all() and (corners[:, 0] <= w + 1).all()
        assert (corners[:, 1] <= h + 1).all(), "the whole page is in the frame"
        span = corners.max(axis=0) - corners.min(axis=0)
        fill = max(span[0] / w, span[1] / h)
        assert 0.49 <= fill <= 0.91
        marker = cv2.perspectiveTransform(np.array([[[50, 50]]], np.float32), shot.homography)[0, 0]
        paper = cv2.perspectiveTransform(np.array([[[300, 80]]], np.float32), shot.homography)[0, 0]
        mx, my = np.round(marker).astype(int)
        px, py = np.round(paper).astype(int)
        assert photo[my, mx] + 60 < photo[py, px], "marker is dark, paper beside it light"


def test_easy_photos_stay_upright_and_hard_ones_sometimes_turn() -> None:
    page = _page()
    easy = [photograph(page, np.random.default_rng(s), "easy", width_px=300) for s in range(30)]
    hard = [photograph(page, np.random.default_rng(s), "hard", width_px=300) for s in range(30)]
    assert all(p.quarter_turns == 0 and abs(p.rotation_deg) <= 4 for p in easy)
    assert all(abs(p.rotation_deg) <= 15 and p.tilt_deg <= 25 for p in hard)
    assert any(p.quarter_turns for p in hard)
    assert max(p.tilt_deg for p in hard) > max(p.tilt_deg for p in easy)


def _line_contrast(shot: SimulatedPhoto) -> float:
    """Paper brightness between ruled lines minus brightness on them."""
    gray = cv2.cvtColor(_decode(shot.jpeg), cv2.COLOR_BGR2GRAY).astype(np.float32)

    def sample(y0: int) -> float:
        points = np.array([[[300, y0 + 40 * k] for k in range(15)]], np.float32)
        mapped = cv2.perspectiveTransform(points, shot.homography)[0]
        return float(np.mean([gray[int(round(y)), int(round(x))] for x, y in mapped]))

    return sample(120) - sample(100)


def test_harder_photos_lose_more_line_contrast() -> None:
    """Blur, shadow and noise grow with difficulty: thin ruling fades in hard photos."""
    page = _page()

    def contrast(difficulty: str) -> float:
        return float(np.mean([
            _line_contrast(photograph(page, np.random.default_rng(s), difficulty, width_px=900))
            for s in range(8)]))

    assert contrast("easy") > contrast("hard") + 5


def test_grayscale_and_colour_pages_both_work() -> None:
    gray = _page()
    colour = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    a = simulate_photo(gray, np.random.default_rng(9), "easy", width_px=400)
    b = simulate_photo(colour, np.random.default_rng(9), "easy", width_px=400)
    assert a == b


def test_unknown_difficulty_is_refused() -> None:
    with pytest.raises(ValueError, match="difficulty"):
        simulate_photo(_page(), np.random.default_rng(0), "extreme")


def test_auto_exposure_keeps_white_paper_below_clipping() -> None:
    """Glare is an event (quality must flag it), not the normal state of white paper."""
    page = _page()
    for seed in range(6):
        shot = photograph(page, np.random.default_rng(seed), "easy", width_px=600)
        gray = cv2.cvtColor(_decode(shot.jpeg), cv2.COLOR_BGR2GRAY)
        outline = np.array([[[0, 0], [600, 0], [600, 900], [0, 900]]], np.float32)
        corners = cv2.perspectiveTransform(outline, shot.homography)[0]
        inside = np.zeros(gray.shape, np.uint8)
        cv2.fillConvexPoly(inside, np.round(corners).astype(np.int32), 1)
        paper = gray[inside.astype(bool)]
        assert (paper >= 250).mean() < 0.02
        assert np.median(paper) > 170, "paper still looks white"


def test_dim_light_darkens_the_paper_and_raises_the_grain() -> None:
    """`DIM_LIGHT` (an evening under one lamp): the same photo, its paper at grey 90-140
    and a grain twice the daylight's."""
    page = np.full((900, 600), 255, np.uint8)

    def paper(light: Light | None) -> np.ndarray:
        shot = photograph(page, np.random.default_rng(3), "normal", width_px=600, light=light)
        gray = cv2.cvtColor(_decode(shot.jpeg), cv2.COLOR_BGR2GRAY).astype(np.float32)
        centre = cv2.perspectiveTransform(np.array([[[300.0, 450.0]]]), shot.homography)[0, 0]
        x, y = np.round(centre).astype(int)
        return gray[y - 40:y + 40, x - 40:x + 40]

    day, dim = paper(None), paper(DIM_LIGHT)
    assert 85 <= np.median(dim) <= 145 < np.median(day)
    grain = [float(np.std(p - cv2.blur(p, (9, 9)))) for p in (day, dim)]
    assert grain[1] > 1.5 * grain[0]


def _dot_page() -> tuple[np.ndarray, np.ndarray]:
    page = np.full((1800, 1200), 255, np.uint8)
    dots = np.array([[x, y] for x in range(100, 1200, 250) for y in range(100, 1800, 250)],
                    np.float64)
    for x, y in dots:
        cv2.circle(page, (int(x), int(y)), 12, 0, -1)
    return page, dots


@pytest.mark.parametrize("difficulty", ["easy", "normal", "hard"])
def test_page_to_photo_is_exact_even_for_a_curled_sheet(difficulty: str) -> None:
    page, dots = _dot_page()
    for seed in range(2):
        shot = photograph(page, np.random.default_rng(seed), difficulty, width_px=1500)
        gray = cv2.cvtColor(_decode(shot.jpeg), cv2.COLOR_BGR2GRAY)
        for ex, ey in shot.page_to_photo(dots):
            x0, y0 = int(ex) - 15, int(ey) - 15
            ink = 255 - gray[y0:y0 + 31, x0:x0 + 31].astype(np.float32)
            ink[ink < 0.5 * ink.max()] = 0
            m = cv2.moments(ink)
            found = (x0 + m["m10"] / m["m00"], y0 + m["m01"] / m["m00"])
            assert np.hypot(found[0] - ex, found[1] - ey) < 1.0


def test_only_normal_and_hard_sheets_curl() -> None:
    page, dots = _dot_page()
    easy = photograph(page, np.random.default_rng(0), "easy", width_px=1500)
    assert easy.curl is None
    shifts = []
    for seed in range(4):
        hard = photograph(page, np.random.default_rng(seed), "hard", width_px=1500)
        flat = cv2.perspectiveTransform(dots[None], hard.homography)[0]
        shifts.append(float(np.abs(hard.page_to_photo(dots) - flat).max()))
    assert max(shifts) > 1.0, "a curled sheet is visibly off a flat homography"
    assert max(shifts) < 15.0, "but only by a few pixels"
