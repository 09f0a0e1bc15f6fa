"""`titik demo seed`: fill a box's store with N TPS' confirmed pages and their photos.

Photos come from `vision.synthetic` (filled C.Hasil pages photographed by the phone
simulation). Each photo goes through the real store path: saved, queued, read by
the worker loop with the real pipeline, then handled as people would: a page read
cleanly is confirmed by its KPPS officer, who corrects any field that differs from
the paper (the synthetic ground truth); a flagged page is confirmed by the officer
and approved by the PPK; a page the machine could not place is entered by hand by
the PPK. When the pipeline is not installed yet (no `vision.pipeline` or no model),
each job is recorded as read with the ground truth instead, marked as such in its
reasons; `mode` in the summary says which happened.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from pathlib import Path
from typing import Any

from gateway.config import BoxConfig
from gateway.store import Store

logger = logging.getLogger(__name__)

PAGES = (1, 2, 3)
PHOTO_WIDTH_PX = 2400
DEMO_PPK = "ppk"
GROUND_TRUTH_REASON = (
    "demo: nilai dari data sintetis, bukan bacaan mesin (synthetic ground truth, not read)"
)


def pipeline_ready() -> bool:
    if importlib.util.find_spec("vision.pipeline") is None:
        return False
    model = Path(__file__).resolve().parents[1] / "vision" / "models" / "digits.tflite"
    return model.exists()


def _officer(config: BoxConfig, tps: str) -> str:
    account = next((a for a in config.accounts if a.role == "kpps" and a.tps == tps), None)
    return account.login if account is not None else tps


def _ppk(config: BoxConfig) -> str:
    account = next((a for a in config.accounts if a.role == "ppk"), None)
    return account.login if account is not None else DEMO_PPK


def _ground_truth_reading(page: int, values: dict[str, int]) -> dict[str, Any]:
    from vision.reading import FieldReading, Reading

    fields = {
        name: FieldReading(value=value, text=str(value), confidence=1.0, flagged=False)
        for name, value in values.items()
    }
    return Reading(template="C.HASIL-PPWP-2024", page=page, status="accepted",
                   reasons=[GROUND_TRUTH_REASON], fields=fields).to_dict()


def _read_all(store: Store, config: BoxConfig, truth: dict[int, tuple[int, dict[str, int]]],
              use_pipeline: bool) -> None:
    """Empty the queue: with the real worker loop, or recording the ground truth."""
    if use_pipeline:
        import vision
        from gateway import worker

        dpts = {t.code: t.dpt for t in config.tps}
        from vision.digits import ModelError

        worker.run(store, dpt_for=dpts.get, read_form=vision.read_form, stop=threading.Event(),
                   settings=worker.WorkerSettings(name="demo-seed", exit_when_idle=True),
                   fatal=(ModelError,))
        return
    while (job := store.claim_job("demo-seed", 600.0)) is not None:
        page, values = truth[job.upload_id]
        store.finish_job(job.id, _ground_truth_reading(page, values), None, worker="demo-seed")


def _settle(store: Store, upload_id: int, page: int, values: dict[str, int], officer: str,
            ppk: str, counts: dict[str, int]) -> str:
    """What the officer and the PPK do with one read page, checking it against the paper;
    returns how the page became final: `confirmed`, `reviewed`, `manual` (or `earlier`)."""
    upload = store.get_upload(upload_id)
    assert upload is not None
    state = upload["state"]
    if state in ("confirmed", "reviewed"):
        return "earlier"
    if state not in ("read", "needs_review") or upload["page"] != page:
        # The photo was refused (or placed on the wrong page): the PPK types the paper's
        # values against this upload, so the photo stays attached to the result.
        store.manual_entry(tps=upload["tps"], page=page, values=values, actor=ppk,
                           reason="demo: foto tidak terbaca, diisi dari formulir",
                           upload_id=upload_id)
        counts["manual"] += 1
        return "manual"
    read = {name: v["value"] for name, v in upload["values"].items()}
    corrections = {name: value for name, value in values.items() if read.get(name) != value}
    counts["corrected_fields"] += len(corrections)
    store.confirm(upload_id, actor=officer, corrections=corrections,
                  reason="demo: dicocokkan dengan formulir" if corrections else None)
    if state == "needs_review":
        store.review(upload_id, actor=ppk, approve=True, reason="demo: diperiksa PPK")
        counts["reviewed"] += 1
        return "reviewed"
    counts["confirmed"] += 1
    return "confirmed"


def seed(config: BoxConfig, data_dir: Path, n_tps: int) -> dict[str, Any]:
    """Fill the store with `n_tps` TPS (of the configuration) x 3 confirmed pages."""
    from vision import synthetic

    stations = config.tps[:n_tps]
    if len(stations) < n_tps:
        logger.warning("the configuration has %s TPS; seeding those", len(stations))
    use_pipeline = pipeline_ready()
    counts = {"uploads": 0, "duplicates": 0, "confirmed": 0, "reviewed": 0, "manual": 0,
              "corrected_fields": 0}
    truth: dict[int, tuple[int, dict[str, int]]] = {}
    officers: dict[int, str] = {}
    outcomes: dict[str, str] = {}
    with Store(data_dir, box_id=config.box.id, tps_codes=[t.code for t in config.tps],
               dpts={t.code: t.dpt for t in config.tps}) as store:
        for index, station in enumerate(stations):
            tps_values = synthetic.tps_values(index, dpt=station.dpt)
            officer = _officer(config, station.code)
            for page in PAGES:
                photo = synthetic.synthetic_photo(page, seed=index * 10 + page,
                                                  values=tps_values[page], width_px=PHOTO_WIDTH_PX)
                result = store.save_upload(photo.jpeg, tps=station.code, actor=officer,
                                           source="kpps", content_type="image/jpeg")
                counts["duplicates" if result.duplicate else "uploads"] += 1
                truth[result.upload_id] = (page, dict(photo.values))
                officers[result.upload_id] = officer
        _read_all(store, config, truth, use_pipeline)
        ppk = _ppk(config)
        for upload_id, (page, values) in truth.items():
            upload = store.get_upload(upload_id)
            assert upload is not None
            outcomes[f"{upload['tps']}/{page}"] = _settle(
                store, upload_id, page, values, officers[upload_id], ppk, counts)
        pages_final = sum(
            1 for row in store.export_results() if row["tps"] in {t.code for t in stations}
        )
    summary: dict[str, Any] = {
        "mode": "pipeline" if use_pipeline else "ground_truth",
        "tps": len(stations),
        "pages_final": pages_final,
        **counts,
        "outcomes": outcomes,
        "data_dir": str(data_dir),
    }
    logger.info("demo seed: %s", summary)
    return summary
