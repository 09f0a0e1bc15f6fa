"""The form templates: measured page geometry, named fields, rules that refer to real fields."""

from __future__ import annotations

import itertools

import pytest

from vision.template import (
    Template,
    load_templates,
    template_for_page,
    template_for_tag,
)

LPJ = ("l", "p", "j")
PAGE1 = {
    *(f"{stem}_{s}" for stem in ("pemilih_dpt", "pengguna_dpt", "pengguna_dptb",
                                  "pengguna_non_dpt", "pengguna_total",
                                  "pengguna_disabilitas") for s in LPJ),
    "surat_suara_diterima", "surat_suara_digunakan", "surat_suara_rusak", "surat_suara_sisa",
}
PAGE2 = {"suara_paslon_1", "suara_paslon_2", "suara_paslon_3"}
PAGE3 = {"suara_sah", "suara_tidak_sah", "suara_total",
         "tanggal_hari", "tanggal_bulan", "tanggal_tahun"}


def test_three_pages_keyed_by_their_tag_ids() -> None:
    templates = load_templates()
    assert sorted(templates) == [101, 102, 103]
    for tag_id, page in ((101, 1), (102, 2), (103, 3)):
        template = template_for_tag(tag_id)
        assert template is not None and template.page == page
        assert template_for_page(page) is template
        assert template.template_id == "C.HASIL-PPWP-2024"
        assert template.tag_family == "36h10"
    assert template_for_tag(7) is None


@pytest.mark.parametrize(("page", "names"), [(1, PAGE1), (2, PAGE2), (3, PAGE3)])
def test_fields_named_as_in_developers_guide(page: int, names: set[str]) -> None:
    assert set(template_for_page(page).field_names) == names


def test_box_counts() -> None:
    counts = {f.name: len(f.boxes_mm) for t in load_templates().values() for f in t.fields}
    assert counts.pop("tanggal_hari") == 2
    assert counts.pop("tanggal_bulan") == 2
    assert counts.pop("tanggal_tahun") == 4
    assert set(counts.values()) == {3}


def _all_templates() -> list[Template]:
    return list(load_templates().values())


@pytest.mark.parametrize("template", _all_templates(), ids=lambda t: f"p{t.page}")
def test_geometry_inside_page_and_boxes_do_not_overlap(template: Template) -> None:
    width, height = template.page_size_mm
    assert (width, height) == (600.0, 900.0)
    boxes = [b for f in template.fields for b in f.boxes_mm]
    for x, y, w, h in boxes:
        assert 0 < x and x + w < width and 0 < y and y + h < height
        assert 12 < w < 22 and abs(w - h) < 0.5
    for (ax, ay, aw, ah), (bx, by, bw, bh) in itertools.combinations(boxes, 2):
        assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay
    for field in template.fields:
        xs = [b[0] for b in field.boxes_mm]
        assert xs == sorted(xs), f"{field.name} boxes are left to right"
    for cx, cy in template.tag_corners_mm:
        assert 0 < cx < width and 0 < cy < height
    assert template.tag_size_mm == pytest.approx(32.0, abs=0.1)
    assert [f.name for f in template.fiducials] == ["tl", "tr", "br", "bl"]
    (tlx, tly), (trx, try_), (brx, bry), (blx, bly) = (f.center_mm for f in template.fiducials)
    assert tlx < 60 and tly < 80 and trx > 540 and bry > 860
    assert tly == pytest.approx(try_) and blx == pytest.approx(tlx) and bly == pytest.approx(bry)


@pytest.mark.parametrize("template", _all_templates(), ids=lambda t: f"p{t.page}")
def test_every_rule_names_fields_of_its_page(template: Template) -> None:
    names = set(template.field_names)
    for rule in template.rules:
        assert rule.op in ("eq", "le", "ge")
        assert rule.lhs, rule.id
        assert set(rule.fields) <= names, rule.id
    assert len({r.id for r in template.rules}) == len(template.rules)


def test_page1_arithmetic_rules_present() -> None:
    rules = {r.id: r for r in template_for_page(1).rules}
    assert rules["pengguna_total_l"].rhs == (
        "pengguna_dpt_l", "pengguna_dptb_l", "pengguna_non_dpt_l")
    assert rules["surat_suara_diterima"].rhs == (
        "surat_suara_digunakan", "surat_suara_rusak", "surat_suara_sisa")
    assert rules["dpt_max"].rhs_const == 300
    assert rules["pengguna_le_dpt"].rhs_param == "dpt"
    for stem in ("pemilih_dpt", "pengguna_total", "pengguna_disabilitas"):
        assert rules[f"{stem}_lpj"].lhs == (f"{stem}_j",)
    assert {r.id for r in template_for_page(3).rules} >= {"suara_total"}


def test_page2_bubbles_ten_per_box_below_it() -> None:
    for field in template_for_page(2).fields:
        assert [c.box for c in field.bubbles] == [0, 1, 2]
        for column in field.bubbles:
            x, y, w, h = field.boxes_mm[column.box]
            assert len(column.centers_mm) == 10
            ys = [c[1] for c in column.centers_mm]
            assert ys == sorted(ys) and ys[0] > y + h
            assert all(x < cx < x + w for cx, _ in column.centers_mm)
            assert 3 < column.radius_mm < 6


@pytest.mark.parametrize("template", _all_templates(), ids=lambda t: f"p{t.page}")
def test_each_field_knows_the_clear_paper_above_and_below_its_boxes(template: Template) -> None:
    for field in template.fields:
        assert field.room_mm is not None, field.name
        above, below = field.room_mm
        # KPU's page: a table's rule or the next row's boxes 3.6-7 mm away; 20 = none near.
        assert 3.0 < above <= 20.0 and 3.0 < below <= 20.0, field.name


def test_room_is_measured_to_the_nearest_print_over_and_under_the_boxes() -> None:
    from vision.render import render_page
    from vision.tools.measure_pdf import MEASURE_DPI, measure_room

    template = template_for_page(1)
    # Rows with rows of boxes over and under them: our render prints nothing else between.
    between = [f for f in template.fields
               if f.name.startswith(("pengguna_dptb_", "pengguna_non_dpt_"))]
    fields = [{"name": f.name, "boxes_mm": [list(b) for b in f.boxes_mm],
               "line_mm": f.line_mm} for f in between]
    measure_room(render_page(1, MEASURE_DPI), fields)
    for field, measured in zip(between, fields, strict=True):
        assert field.room_mm is not None
        assert measured["room_mm"] == pytest.approx(list(field.room_mm), abs=0.25), field.name
