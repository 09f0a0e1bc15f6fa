"""vision: a phone photo of a C.Hasil page -> a validated Reading.

A pure library: no Flask, no database, no MQTT. Heavy modules load on first use,
so importing `vision` stays cheap for processes that only need its data types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from vision.reading import Check, Reading
    from vision.tps_vouching import TpsReading


def read_form(data: bytes, *, dpt: int | None = None) -> Reading:
    """Read one photo (JPEG/PNG bytes) of a C.Hasil page."""
    from vision.pipeline import read_form as _read_form

    return _read_form(data, dpt=dpt)


def check_tps(pages: dict[int, dict[str, int | None]], *, dpt: int | None = None) -> list[Check]:
    """Cross-page rules over one TPS's pages (values keyed by page number)."""
    from vision.checks import check_tps as _check_tps

    return _check_tps(pages, dpt=dpt)


def vouch_tps(pages: dict[int, Reading], *, dpt: int | None = None) -> TpsReading:
    """One TPS's page readings (keyed by page number) checked together: the cross-page
    rules, and the doubted fields they vouch for (`vision.tps_vouching`)."""
    from vision.tps_vouching import vouch_tps as _vouch_tps

    return _vouch_tps(pages, dpt=dpt)


def classify_cells(crops: list[np.ndarray[Any, Any]]) -> list[tuple[str, float]]:
    """Label grayscale box interiors (dark ink on light paper) as "0".."9", "X" or ""."""
    from vision.digits import classify_cells as _classify

    return _classify(crops)


__all__ = ["read_form", "check_tps", "vouch_tps", "classify_cells"]
