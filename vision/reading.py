"""What the vision pipeline says about one photo: the data types every other part consumes.

These types stay free of OpenCV and NumPy so the web app, the worker and sync can import
them cheaply. `Reading.to_dict()` is the `titik read --json` object (without the JPEG).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["accepted", "needs_review", "rejected"]

STATUS_ACCEPTED: Status = "accepted"
STATUS_NEEDS_REVIEW: Status = "needs_review"
STATUS_REJECTED: Status = "rejected"


@dataclass
class FieldReading:
    """One numeric field of the form as read from its digit boxes.

    `text` shows each box as read: a digit, `X`, or `_` for an empty box (e.g. `"X32"`).
    `value` is None when the boxes do not give a number (all empty, or malformed); it is
    never a guess. `corrected` marks a value taken from an alternative reading because
    the form's arithmetic required it; `text` then shows the corrected boxes and
    `read_text` what the model read first.
    """

    value: int | None
    text: str
    confidence: float
    flagged: bool
    reason: str | None = None
    box_mm: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    corrected: bool = False
    read_text: str | None = None
    # Boxes (0 = leftmost) not near the model's ceiling, or empty: `vouching.box_sure`.
    unsure_boxes: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": self.value,
            "text": self.text,
            "confidence": round(float(self.confidence), 4),
            "flagged": self.flagged,
            "reason": self.reason,
            "box_mm": [round(float(v), 2) for v in self.box_mm],
        }
        if self.corrected:
            out["corrected"] = True
            out["read_text"] = self.read_text
        if self.unsure_boxes:
            out["unsure_boxes"] = list(self.unsure_boxes)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FieldReading:
        """The inverse of `to_dict` (confidence and box as rounded there)."""
        return cls(
            value=data["value"], text=data["text"], confidence=float(data["confidence"]),
            flagged=bool(data["flagged"]), reason=data.get("reason"),
            box_mm=_box(data.get("box_mm")),
            corrected=bool(data.get("corrected", False)), read_text=data.get("read_text"),
            unsure_boxes=tuple(int(i) for i in data.get("unsure_boxes") or ()),
        )


@dataclass
class Check:
    """The outcome of one arithmetic rule over the values read."""

    rule: str
    ok: bool
    fields: list[str]
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "ok": self.ok, "fields": list(self.fields)}
        if self.message is not None:
            out["message"] = self.message
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        return cls(rule=data["rule"], ok=bool(data["ok"]), fields=list(data["fields"]),
                   message=data.get("message"))


@dataclass
class Reading:
    """Everything the pipeline found on one photo."""

    template: str | None
    page: int | None
    status: Status
    reasons: list[str] = field(default_factory=list)
    fields: dict[str, FieldReading] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    quality: dict[str, Any] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    rectified_jpeg: bytes | None = None
    px_per_mm: float = 0.0
    photo_sha256: str = ""
    image: str | None = None
    omr: dict[str, Any] | None = None

    @property
    def values(self) -> dict[str, int | None]:
        return {name: f.value for name, f in self.fields.items()}

    @property
    def flagged_fields(self) -> list[str]:
        return [name for name, f in self.fields.items() if f.flagged]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "image": self.image,
            "template": self.template,
            "page": self.page,
            "status": self.status,
            "reasons": list(self.reasons),
            "fields": {name: f.to_dict() for name, f in self.fields.items()},
            "checks": [c.to_dict() for c in self.checks],
            "quality": _jsonable(self.quality),
            "timings_ms": {k: round(float(v), 1) for k, v in self.timings_ms.items()},
            "px_per_mm": self.px_per_mm,
            "photo_sha256": self.photo_sha256,
        }
        if self.omr is not None:
            out["omr"] = _jsonable(self.omr)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reading:
        """A reading back from its `to_dict` JSON (as the box stores it); no JPEG."""
        return cls(
            template=data.get("template"), page=data.get("page"), status=data["status"],
            reasons=list(data.get("reasons") or []),
            fields={n: FieldReading.from_dict(f) for n, f in (data.get("fields") or {}).items()},
            checks=[Check.from_dict(c) for c in data.get("checks") or []],
            quality=dict(data.get("quality") or {}),
            timings_ms=dict(data.get("timings_ms") or {}),
            px_per_mm=float(data.get("px_per_mm") or 0.0),
            photo_sha256=str(data.get("photo_sha256") or ""), image=data.get("image"),
            omr=data.get("omr"),
        )


def _box(values: Any) -> tuple[float, float, float, float]:
    x, y, w, h = (float(v) for v in values) if values else (0.0, 0.0, 0.0, 0.0)
    return (x, y, w, h)


def _jsonable(value: Any) -> Any:
    """Quality measures may arrive as NumPy scalars or tuples; JSON wants plain types."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    return str(value)
