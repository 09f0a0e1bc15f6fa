"""A page's verdict: its boxes' readings -> fields, the rules' checks and a status; and the
boxes a person would be asked about, which `read_form` first looks at again closer.

`read_fields` runs the arithmetic over the model's candidates (`rules.resolve_fields`),
`set_status` names the flagged fields and decides accepted or needs_review,
`doubtful_boxes` picks the boxes worth a closer look before a person is asked.
"""

from __future__ import annotations

from typing import Any

from vision.reading import STATUS_ACCEPTED, STATUS_NEEDS_REVIEW, Reading

EMPTY_FORM = "formulir kosong"

# A doubtful page's boxes read less sure than this are looked at closer
# (`cells.CLOSER_PX_PER_MM`). Those read surer came out the same closer: 150 photos written
# small, 300 of the default hand, the same accuracy and pages to a person either way.
CLOSER_BELOW = 0.99


def doubtful_boxes(reading: Reading, candidates: dict[str, list[list[tuple[str, float]]]],
                   template: Any = None) -> dict[str, list[int]]:
    """The boxes a person would be asked about: in the fields flagged or in a rule that
    failed, those the model read less than CLOSER_BELOW sure. Field name -> their places.

    Also those of the `template`'s fields no equality checks (`unchecked_fields`): one
    passed on the model alone may be wrong all the same, and a person looking at this page
    is told only of the fields flagged. Seed 905281 (page 2, small writing): a `7` read `0`
    251/256 sure, its bubble left empty, passed as X04 for 74; closer, 0.965, not sure
    enough to stand alone. On a page that passed, only `standing_alone`'s boxes.
    """
    if reading.reasons == [EMPTY_FORM]:
        return {}
    if reading.status != STATUS_NEEDS_REVIEW:
        return standing_alone(reading)
    unchecked = unchecked_fields(template) if template is not None else set()
    failed = {name for check in reading.checks if not check.ok for name in check.fields}
    out: dict[str, list[int]] = {}
    for name, f in reading.fields.items():
        if f.flagged or name in failed or name in unchecked:
            places = [i for i, ranked in enumerate(candidates[name])
                      if ranked[0][1] < CLOSER_BELOW]
            if places:
                out[name] = places
    return out


def standing_alone(reading: Reading) -> dict[str, list[int]]:
    """On a page that passed, page 2's digit boxes whose bubble column was not read (left
    empty, as officers often do, too faint, two filled): nothing but the model's first look
    vouches for them, so they are looked at closer, and a look that is not as sure of the
    same digit flags the field (`page_boxes.read_closer`). Field name -> their places."""
    out: dict[str, list[int]] = {}
    for name, columns in (reading.omr or {}).items():
        text = reading.fields[name].text
        places = [c["box"] for c in columns
                  if c["state"] != "ok" and c["box"] < len(text) and text[c["box"]].isdigit()]
        if places:
            out[name] = places
    return out


def unchecked_fields(template: Any) -> set[str]:
    """The template's fields no equality of the page checks (page 2's votes, the day)."""
    from vision.checks import load_rules

    checked = {name for rule in load_rules(template.rules) if rule.op == "eq"
               for name in rule.fields}
    return {spec.name for spec in template.fields} - checked



def read_fields(
    reading: Reading,
    template: Any,
    candidates: dict[str, list[list[tuple[str, float]]]],
    dpt: int | None,
) -> None:
    from vision.checks import load_rules
    from vision.rules import resolve_fields

    box_mm = {spec.name: spec.bbox_mm for spec in template.fields}
    resolution = resolve_fields(
        candidates, load_rules(template.rules), params={"dpt": dpt}, box_mm=box_mm
    )
    reading.fields = {spec.name: resolution.fields[spec.name] for spec in template.fields}
    reading.checks = resolution.checks
    reading.reasons.extend(resolution.reasons)



def set_status(reading: Reading) -> None:
    fields = reading.fields
    if fields and all(f.text.strip("_") == "" for f in fields.values()):
        reading.status = STATUS_NEEDS_REVIEW
        reading.reasons = [EMPTY_FORM]
        reading.checks = []
        return
    for name, f in fields.items():
        if f.flagged:
            reading.reasons.append(f"{name}: {f.reason}")
    ok = all(c.ok for c in reading.checks) and not any(f.flagged for f in fields.values())
    reading.status = STATUS_ACCEPTED if ok else STATUS_NEEDS_REVIEW
