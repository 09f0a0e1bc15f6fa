"""Form templates as frozen dataclasses, loaded from `vision/templates/ppwp_p*.json`.

Units are mm, origin at the page's top-left corner, y down. A field's `boxes_mm` are the white
writable interiors of its printed digit boxes, left to right; `line_mm` is the printed border
thickness around them. See `vision/templates/README.md` for the JSON format.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_FILES = ("ppwp_p1.json", "ppwp_p2.json", "ppwp_p3.json")
TAG_FAMILY = "36h10"

# Tag ids printed on pages of other 2024 C.Hasil forms (DPR, DPD, DPRD). KPU has not published
# its id scheme and we have no blank PDFs of those forms to measure, so none are known yet; add
# them here (id -> name for the officer) once measured. Unknown ids read as "not a C.Hasil page".
OTHER_FORM_TAGS: dict[int, str] = {}

Box = tuple[float, float, float, float]
Point = tuple[float, float]


class TemplateError(ValueError):
    """A template file is missing or malformed."""


@dataclass(frozen=True)
class BubbleColumn:
    """OMR bubbles under one digit box: centres_mm[d] is the bubble for digit d."""

    box: int
    centers_mm: tuple[Point, ...]
    radius_mm: float


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    boxes_mm: tuple[Box, ...]
    line_mm: float
    bubbles: tuple[BubbleColumn, ...] = ()
    # Clear paper above and below the boxes' lines before other print (mm), measured on the
    # form; None where not measured.
    room_mm: tuple[float, float] | None = None

    @cached_property
    def bbox_mm(self) -> Box:
        """The union of the field's boxes (x, y, w, h); worked out once per loaded template,
        asked for per photo by the local fit, the cells and the quality check."""
        x0 = min(b[0] for b in self.boxes_mm)
        y0 = min(b[1] for b in self.boxes_mm)
        x1 = max(b[0] + b[2] for b in self.boxes_mm)
        y1 = max(b[1] + b[3] for b in self.boxes_mm)
        return (x0, y0, x1 - x0, y1 - y0)


OPS: dict[str, Callable[[int, int], bool]] = {
    "eq": lambda lhs, rhs: lhs == rhs,
    "le": lambda lhs, rhs: lhs <= rhs,
    "ge": lambda lhs, rhs: lhs >= rhs,
}


@dataclass(frozen=True)
class Rule:
    """`sum(lhs) op sum(rhs) + rhs_const + params[rhs_param]` (DEVELOPERS.md rule format)."""

    id: str
    lhs: tuple[str, ...]
    op: str
    rhs: tuple[str, ...] = ()
    rhs_const: int = 0
    rhs_param: str | None = None
    description: str = ""
    message: str | None = None
    # The right side plus this percentage of its fields' sum, rounded up (KPU's 2% reserve).
    rhs_pct: int = 0
    # A usual relation, not a law of the form: it vouches for its fields when it holds and
    # never fails a page when it does not (`vision.vouching`).
    soft: bool = False

    @property
    def fields(self) -> tuple[str, ...]:
        return self.lhs + self.rhs

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rule:
        if data.get("op", "eq") not in OPS:
            raise TemplateError(
                f"rule {data.get('id')}: unknown op {data.get('op')!r}; use eq, le or ge"
            )
        return cls(
            id=str(data["id"]),
            lhs=tuple(data.get("lhs") or ()),
            op=str(data.get("op", "eq")),
            rhs=tuple(data.get("rhs") or ()),
            rhs_const=int(data.get("rhs_const") or 0),
            rhs_param=data.get("rhs_param"),
            description=str(data.get("description") or ""),
            message=data.get("message"),
            rhs_pct=int(data.get("rhs_pct") or 0),
            soft=bool(data.get("soft", False)),
        )

    def applies(self, params: Mapping[str, int | None]) -> bool:
        return self.rhs_param is None or params.get(self.rhs_param) is not None

    def sides(
        self, values: Mapping[str, int | None], params: Mapping[str, int | None]
    ) -> tuple[int, int] | None:
        """(lhs, rhs) totals, or None when the rule cannot be evaluated."""
        if not self.applies(params):
            return None
        totals = []
        for names in (self.lhs, self.rhs):
            total = 0
            for name in names:
                value = values.get(name)
                if value is None:
                    return None
                total += value
            totals.append(total)
        rhs = totals[1] + self.rhs_const + -(-totals[1] * self.rhs_pct // 100)
        if self.rhs_param is not None:
            rhs += params[self.rhs_param] or 0
        return totals[0], rhs

    def holds(
        self, values: Mapping[str, int | None], params: Mapping[str, int | None]
    ) -> bool | None:
        sides = self.sides(values, params)
        return None if sides is None else bool(OPS[self.op](*sides))


@dataclass(frozen=True)
class Fiducial:
    """Two filled squares touching at `center_mm`; pattern says which diagonal they sit on."""

    name: str
    center_mm: Point
    square_mm: float
    pattern: str


@dataclass(frozen=True)
class Template:
    template_id: str
    page: int
    title: str
    page_size_mm: tuple[float, float]
    tag_family: str
    tag_id: int
    tag_corners_mm: tuple[Point, Point, Point, Point]
    fiducials: tuple[Fiducial, ...]
    fields: tuple[FieldSpec, ...]
    rules: tuple[Rule, ...]

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.fields)

    @property
    def tag_size_mm(self) -> float:
        xs = [c[0] for c in self.tag_corners_mm]
        return max(xs) - min(xs)


def _point(values: Any) -> Point:
    return (float(values[0]), float(values[1]))


def parse_template(data: dict[str, Any]) -> Template:
    try:
        fields = tuple(
            FieldSpec(
                name=f["name"],
                label=f.get("label", f["name"]),
                boxes_mm=tuple(
                    (float(b[0]), float(b[1]), float(b[2]), float(b[3])) for b in f["boxes_mm"]
                ),
                line_mm=float(f.get("line_mm", 1.0)),
                bubbles=tuple(
                    BubbleColumn(
                        box=int(c["box"]),
                        centers_mm=tuple(_point(p) for p in c["centers_mm"]),
                        radius_mm=float(c["radius_mm"]),
                    )
                    for c in f.get("bubbles", ())
                ),
                room_mm=_point(f["room_mm"]) if "room_mm" in f else None,
            )
            for f in data["fields"]
        )
        corners = tuple(_point(p) for p in data["tag"]["corners_mm"])
        if len(corners) != 4:
            raise TemplateError("tag needs 4 corners")
        return Template(
            template_id=data["template"],
            page=int(data["page"]),
            title=data.get("title", ""),
            page_size_mm=_point(data["page_size_mm"]),
            tag_family=data["tag"]["family"],
            tag_id=int(data["tag"]["id"]),
            tag_corners_mm=(corners[0], corners[1], corners[2], corners[3]),
            fiducials=tuple(
                Fiducial(
                    name=f["name"],
                    center_mm=_point(f["center_mm"]),
                    square_mm=float(f["square_mm"]),
                    pattern=f.get("pattern", "tl-br"),
                )
                for f in data["fiducials"]
            ),
            fields=fields,
            rules=tuple(Rule.from_dict(r) for r in data.get("rules", ())),
        )
    except (KeyError, TypeError, IndexError) as exc:
        raise TemplateError(f"malformed template: {exc!r}") from exc


@cache
def load_templates() -> dict[int, Template]:
    """All known page templates keyed by AprilTag id."""
    templates: dict[int, Template] = {}
    for name in TEMPLATE_FILES:
        path = TEMPLATE_DIR / name
        template = parse_template(json.loads(path.read_text(encoding="utf-8")))
        templates[template.tag_id] = template
    logger.debug("loaded %s templates", len(templates))
    return templates


def template_for_tag(tag_id: int) -> Template | None:
    return load_templates().get(tag_id)


def template_for_page(page: int) -> Template:
    for template in load_templates().values():
        if template.page == page:
            return template
    raise KeyError(f"no template for page {page}")


def other_form_for_tag(tag_id: int) -> str | None:
    """Name of the non-PPWP form page carrying this tag id, when known."""
    return OTHER_FORM_TAGS.get(tag_id)
