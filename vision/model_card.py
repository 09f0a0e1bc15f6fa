"""What the digit model scores, measured on this machine, and the model card written from it:
held-out pipeline boxes (default and small hand), rendered boxes, MNIST test, the real 2019
crops, and a page's latency. `python -m vision.train --card-only` re-measures and rewrites.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from vision import cellprep, digits
from vision.training_boxes import (
    BLANK_INDEX,
    LABELS,
    X_INDEX,
    Glyph,
    font_glyph,
    hand_glyph,
    load_mnist,
    render_box,
    x_glyph,
)
from vision.training_pages import (
    BIG_SEED_BASE,
    HELD_OUT_PAGES,
    MARKER_SEED_BASE,
    SMALL_SEED_BASE,
    cache_path,
    held_out_page_jobs,
    pipeline_set,
)

logger = logging.getLogger(__name__)


def load_dev(shared: Path) -> tuple[list[np.ndarray[Any, Any]], list[str]]:
    """The 115 real 2019 box crops, each cut to its real size (evaluation only)."""
    data = np.load(shared / "data" / "c1_2019_cells_dev.npz")
    crops = [img[:h, :w] for img, (h, w) in zip(data["images"], data["hw"], strict=True)]
    return crops, [str(label) for label in data["labels"]]


def cpu_description(cpuinfo: str | None = None) -> str:
    """This machine's processor, its cores, and whether it has the instructions LiteRT's int8
    kernels are fastest with (x86 VNNI, Arm's dot product): without them the same model
    takes several times as long, so a latency means little without them."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text(errors="replace") if path.is_file() else ""
    fields: dict[str, str] = {}
    lines = cpuinfo.splitlines()
    cores = sum(line.startswith("processor") for line in lines)
    for line in lines:
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    name = fields.get("model name") or fields.get("model") or platform.machine() or "unknown"
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    if flags & {"avx512_vnni", "avx_vnni"}:
        int8 = "VNNI"
    elif "asimddp" in flags:
        int8 = "dot product"
    elif "avx2" in flags:
        int8 = "AVX2, no VNNI"
    else:
        int8 = "no int8 dot-product instructions"
    return f"{name}, {cores or os.cpu_count()} cores, {int8}"


def page_latency_ms(
    model: str | Path | None = None, boxes: int = 50, runs: int = 20
) -> dict[str, Any]:
    """Median time for one page: preparing `boxes` rendered crops and one batched invoke."""
    rng = np.random.default_rng(7)
    crops = [render_box(font_glyph(str(i % 10), rng), rng) for i in range(boxes)]
    loaded = digits.load_model(model)
    prep, infer = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        batch = cellprep.prepare_batch(crops)
        t1 = time.perf_counter()
        loaded.probabilities(batch)
        t2 = time.perf_counter()
        prep.append((t1 - t0) * 1000)
        infer.append((t2 - t1) * 1000)
    return {
        "cpu": cpu_description(),
        "boxes": boxes,
        "prepare_ms": round(float(np.median(prep)), 2),
        "invoke_ms": round(float(np.median(infer)), 2),
        "total_ms": round(float(np.median(np.add(prep, infer))), 2),
    }


def lost_by_cellprep(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> Any:
    """Written boxes (digit or X) that cellprep prepared as an empty image."""
    return (x.reshape(len(x), -1).max(axis=1) == 0) & (y != BLANK_INDEX)


def pipeline_accuracy(model: str | Path | None = None, pages: int = HELD_OUT_PAGES,
                      readable_only: bool = True, kind: str = "default") -> dict[str, Any]:
    """The model's own pick on every box of the benchmark's photos, cut by the pipeline, and
    how many written boxes the preparation already left empty (no model can read those).
    `kind`: the same photos filled another way (`training_pages.KINDS`)."""
    name = (f"heldout{pages}" + ("-readable" if readable_only else "")
            + ("" if kind == "default" else f"-{kind}"))
    xs, ys = pipeline_set(held_out_page_jobs(pages, readable_only, kind), cache_path(name))
    probs = digits.load_model(digits.model_path(model)).probabilities(xs)
    result = digits.evaluate([LABELS[i] for i in probs.argmax(1)],
                             [LABELS[i] for i in ys]).to_dict()
    result["written_left_empty_by_cellprep"] = int(lost_by_cellprep(xs, ys).sum())
    # The rules trust a box only near the int8 softmax's ceiling (`vision.rules`): how many
    # picks are that sure, right and wrong, and the mean negative log-likelihood of the truth.
    right = probs.argmax(1) == ys
    sure = probs.max(1) >= probs.max() - 5 / 256
    result["sure_right"] = int((sure & right).sum())
    result["sure_wrong"] = int((sure & ~right).sum())
    truth = probs[np.arange(len(ys)), ys]
    result["nll"] = round(float(-np.log(np.maximum(truth, 1e-4)).mean()), 4)
    return result


def measure(shared: Path | None, model: str | Path | None = None) -> dict[str, Any]:
    """Everything the model card and `bench_model` report, measured on this machine."""
    path = digits.model_path(model)
    result: dict[str, Any] = {"model_bytes": path.stat().st_size}
    loaded = digits.load_model(path)
    result["pipeline_boxes"] = pipeline_accuracy(path)
    # Refused photos too (boxes of a cut-off page may lie outside the photo): the figure
    # comparable with earlier reports.
    result["pipeline_boxes_all_photos"] = pipeline_accuracy(path, readable_only=False)
    result["pipeline_boxes_small_writing"] = pipeline_accuracy(path, kind="small")
    result["pipeline_boxes_marker"] = pipeline_accuracy(path, kind="marker")
    result["pipeline_boxes_big_writing"] = pipeline_accuracy(path, kind="big")
    held_out = (("synthetic_font_boxes", 99, False), ("synthetic_hand_boxes", 98, True))
    for name, seed, hand in held_out:
        xs, ys = held_out_set(600, np.random.default_rng(seed), hand)
        probs = loaded.probabilities(xs)
        result[name] = digits.evaluate(
            [LABELS[i] for i in probs.argmax(1)], [LABELS[i] for i in ys]
        ).to_dict()
    if shared is None or not (shared / "data" / "mnist_test.npz").exists():
        result["skipped"] = f"../shared absent ({shared}): no MNIST or 2019 evaluation"
    else:
        mx, my = load_mnist(shared, "test")
        probs = digits.load_model(path).probabilities(mx)
        result["mnist_test"] = digits.evaluate(
            [LABELS[i] for i in probs.argmax(1)], [LABELS[i] for i in my]
        ).to_dict()
        crops, truth = load_dev(shared)
        read = [label for label, _ in digits.classify_cells(crops, model=path)]
        result["c1_2019_dev"] = digits.evaluate(read, truth).to_dict()
        # Most crops of the non-vote fields were cut too short in the data set and show only
        # the top of the digit; report the full-height crops apart so that is visible.
        full = [i for i, c in enumerate(crops) if c.shape[0] >= 50]
        result["c1_2019_dev_full_height"] = digits.evaluate(
            [read[i] for i in full], [truth[i] for i in full]
        ).to_dict()
    result["page_latency"] = page_latency_ms(path)
    return result


def held_out_set(
    n: int, rng: np.random.Generator, hand: bool
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Rendered boxes that need no ../shared, from a seed training never uses: font or
    procedural-hand digits, X fillers and blanks, an equal number of each class."""
    images, labels = [], []
    for i in range(n):
        label = i % len(LABELS)
        if label == BLANK_INDEX:
            glyph: Glyph | None = None
        elif hand:
            glyph = hand_glyph(LABELS[label], rng)
        else:
            glyph = x_glyph(rng) if label == X_INDEX else font_glyph(LABELS[label], rng)
        images.append(cellprep.prepare(render_box(glyph, rng)))
        labels.append(label)
    return np.stack(images), np.asarray(labels, np.int64)


def _block_text(index: int, width: int, separable: bool) -> str:
    if separable and index > 0:
        return f"DepthwiseConv3x3-BN-ReLU-Conv1x1({width})-BN-ReLU-MaxPool"
    return f"Conv3x3({width})-BN-ReLU-MaxPool"


def _class_table(evaluation: dict[str, Any]) -> str:
    rows = ["| class | correct / n |", "|---|---|"]
    for label, v in evaluation["per_class"].items():
        rows.append(f"| `{label}` | {v['correct']} / {v['n']} |")
    return "\n".join(rows)


def _confusions(evaluation: dict[str, Any]) -> str:
    items = sorted(evaluation["confusions"].items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} x{v}" for k, v in items) or "none"


def _pct(evaluation: dict[str, Any]) -> str:
    return f"{100 * evaluation['accuracy']:.2f}% ({evaluation['n']} samples)"


def write_card(out: Path, measured: dict[str, Any], training: dict[str, Any]) -> None:
    """MODEL_CARD.md from the numbers just measured (nothing in it is typed by hand)."""
    from vision.synthetic import BIG_WRITING, MARKER_MM, SMALL_WRITING

    small_lo, small_hi = SMALL_WRITING
    lines = [
        "# Digit model card (`vision/models/digits.tflite`)",
        "",
        "Generated by `python -m vision.train` (`make model`); rerun it to refresh every number.",
        "",
        "## What it does",
        "",
        "Classifies one prepared digit box (28x28, white ink on black: `vision.framedprep` on",
        "a registered page, `vision.cellprep` for a bare box interior)",
        'into 12 classes: `"0"`..`"9"`, `"X"` (the filler for unused leading boxes) and `""`',
        "(blank). Output order is `labels.json`. All boxes of a page go through one batched",
        "invoke.",
        "",
        "## Training data",
        "",
        f"- MNIST train as published: {training['mnist']} images.",
        f"- {training['synthetic']} synthetic box crops rendered as dark ink on light paper (box",
        "  22-150 px high, aspect 0.5-1.15, 20% of marks filling the box to an edge, gradient",
        "  light, faint watermark text, border remnants,",
        "  ruling and dotted lines, specks, blur, noise, JPEG 30-95) then passed through",
        "  `cellprep.prepare`: 50% MNIST digits (re-slanted, stroke width varied), 8%",
        "  Hershey-font digits, 15% digits and X from the procedural hand of",
        "  `vision.handwriting`, 13% X fillers (two bent crossing strokes), 14% blank boxes.",
    ]
    if "pipeline" in training:
        lines += [
            f"- {training['pipeline']} box crops cut by the real pipeline from "
            f"{training['pipeline_pages']} synthetic",
            "  phone photos (`vision.synthetic` -> `photo_sim` -> `register.register` ->",
            "  `cells.crop_framed` -> `framedprep.prepare_framed`), labelled from the page's",
            "  ground truth: all three pages, normal and hard, 9 and 12 MP, half the officers",
            "  writing MNIST train digits and half the procedural hand, seeds 500000 and up (the",
            "  benchmark's photos use MNIST test digits and seeds under 20000)"
            + (f"; and {training['pipeline_small_pages']} more photos (seeds {SMALL_SEED_BASE}"
               f" and up) with the officers writing small, glyphs {small_lo:.0%}-{small_hi:.0%}"
               " of the box high as in the 2019 scans (`synthetic.SMALL_WRITING`)"
               if training.get("pipeline_small_pages") else "")
            + (f"; and {training['pipeline_marker_pages']} more photos (seeds"
               f" {MARKER_SEED_BASE} and up) filled with a felt-tip marker, its line"
               f" {MARKER_MM[0]}-{MARKER_MM[1]} mm wide (`synthetic.MARKER_MM`)"
               if training.get("pipeline_marker_pages") else "")
            + (f"; and {training['pipeline_big_pages']} more photos (seeds {BIG_SEED_BASE}"
               f" and up) with the officers writing bigger than the boxes, glyphs"
               f" {BIG_WRITING[0]}-{BIG_WRITING[1]} times the box high"
               " (`synthetic.BIG_WRITING`)"
               if training.get("pipeline_big_pages") else "") + "; shown",
            f"  {training['pipeline_repeat']} times per epoch.",
            "- Classes balanced by loss weights (MNIST brings no X or blank).",
        ]
    lines += [
        "- The real 2019 crops in ../shared are used only for the evaluation below.",
        f"- Seed {training['seed']}, {training['epochs']} epochs, Adam, batch 128, learning rate",
        f"  1e-3 halved every {training.get('halve_every', 1)} epoch(s); {training['seconds']} s"
        " on this machine's 2 shared cores.",
        "",
        "## Architecture and size",
        "",
        ", ".join(_block_text(i, c, bool(training.get("separable", False)))
                  for i, c in enumerate(training["channels"])) + ",",
        "Dropout 0.3, Dense 128 ReLU, Dropout 0.3, Dense 12 softmax; "
        + (f"{training['parameters']} parameters." if "parameters" in training
           else "about 241k parameters."),
        "Full-integer int8 TFLite (int8 input scale 1/255, int8 output), representative set of",
        f"500 training boxes. File size: {measured['model_bytes']} bytes.",
        "",
        "## Accuracy (int8 model through LiteRT)",
        "",
    ]
    pipe = measured["pipeline_boxes"]
    lines += [
        f"- Every box of the benchmark's first {HELD_OUT_PAGES} synthetic photos (`bench_vision`'s",
        "  seeds 10000 and up, 12 MP, MNIST test digits), cut by the pipeline, the model's own",
        f"  pick: {_pct(pipe)}; confusions: {_confusions(pipe)}. Photos the quality check",
        "  refuses (cut off, blurred; `read_form` never reads their boxes) are left out; with",
        f"  them: {_pct(measured['pipeline_boxes_all_photos'])}.",
        f"  {pipe['written_left_empty_by_cellprep']} of these written boxes reach the model as an"
        " empty image",
        "  (the preparation took the mark for paper or for the printed frame): no model can",
        "  read those.",
        f"  Picks within 5 int8 steps of the softmax ceiling: {pipe['sure_right']} right,"
        f" {pipe['sure_wrong']} wrong; mean NLL of the truth {pipe['nll']}.",
    ]
    if "pipeline_boxes_small_writing" in measured:
        small = measured["pipeline_boxes_small_writing"]
        lines += [
            "- The same photos with the officers writing small (`synthetic.SMALL_WRITING`), the",
            f"  model's own pick: {_pct(small)}; confusions: {_confusions(small)};"
            f" {small['written_left_empty_by_cellprep']} written boxes reach the model empty.",
        ]
    if "pipeline_boxes_marker" in measured:
        marker = measured["pipeline_boxes_marker"]
        lines += [
            "- The same photos filled with a felt-tip marker (`synthetic.MARKER_MM`), the",
            f"  model's own pick: {_pct(marker)}; confusions: {_confusions(marker)};"
            f" {marker['written_left_empty_by_cellprep']} written boxes reach the model empty.",
        ]
    if "pipeline_boxes_big_writing" in measured:
        big = measured["pipeline_boxes_big_writing"]
        lines += [
            "- The same photos written bigger than the boxes (`synthetic.BIG_WRITING`), the",
            f"  model's own pick: {_pct(big)}; confusions: {_confusions(big)};"
            f" {big['written_left_empty_by_cellprep']} written boxes reach the model empty.",
        ]
    if "pipeline_boxes_before" in training:
        old = training["pipeline_boxes_before"]
        lines.append(f"  The model before this training read {_pct(old)} of the same boxes"
                     + (f"; sure {old['sure_right']} right, {old['sure_wrong']} wrong; NLL"
                        f" {old['nll']}." if "nll" in old else "."))
    if "mnist_test" in measured:
        dev, full = measured["c1_2019_dev"], measured["c1_2019_dev_full_height"]
        lines += [
            f"- MNIST test: {_pct(measured['mnist_test'])}.",
            f"- Real 2019 C1 dev crops, all: {_pct(dev)}.",
            f"- Real 2019 C1 dev crops, full-height boxes only (the vote fields): {_pct(full)}.",
            "",
            "The 2019 dev set has a problem of its own: 85 of its 115 crops (fields A, B, C and",
            "the date) are 30-31 px high and cut off above the digit, showing only its top edge",
            "or nothing; a person cannot read most of them either. The full-height subset is",
            "the fair measure of the classifier; the overall figure is reported as measured.",
            "",
            "Per class, all 2019 crops:",
            "",
            _class_table(dev),
            "",
            f"Confusions (truth->read), all 2019 crops: {_confusions(dev)}.",
            "",
            f"Confusions, full-height 2019 crops: {_confusions(full)}.",
            "",
        ]
    else:
        lines += [f"- {measured['skipped']}", ""]
    font, hand = measured["synthetic_font_boxes"], measured["synthetic_hand_boxes"]
    lat = measured["page_latency"]
    lines += [
        "- Synthetic boxes from seeds training never used (same generators as training, so",
        "  these check the box preparation more than generalisation):",
        f"  font digits + X + blank {_pct(font)}, confusions: {_confusions(font)};",
        f"  procedural hand + blank {_pct(hand)}, confusions: {_confusions(hand)}.",
        "",
        "## Latency",
        "",
        f"One page of {lat['boxes']} boxes on this machine (median of 20):",
        f"prepare {lat['prepare_ms']} ms, one batched invoke {lat['invoke_ms']} ms,",
        f"total {lat['total_ms']} ms. Processor: {lat.get('cpu', 'not recorded')}. The",
        "invoke takes several times as long without VNNI (x86) or the dot product (Arm).",
        "Not yet measured on a Raspberry Pi; other engineers' jobs share these cores, so the",
        "figure varies from run to run.",
        "",
        "## Limitations",
        "",
        "- Trained on MNIST (American/European handwriting) and synthetic marks; Indonesian",
        "  officers' 1, 4, 7 and 9 styles are only covered as far as MNIST covers them.",
        "- The X filler and blank classes are entirely synthetic; an unusual filler (a dash, a",
        "  slash, a scribble) will be read with low confidence or as a digit. The rules engine",
        "  and the officer's confirmation are the safety net, not this model.",
        "- A digit that runs far over the box border loses the part outside the crop.",
        f"- `cellprep` decides blank before the model: no mark taller than "
        f"{cellprep.MIN_EXTENT:.0%} of the box or",
        f"  wider than {cellprep.MIN_EXTENT:.0%} of it, or ink under "
        f"{cellprep.MIN_INK_FRACTION:.1%} of its area. A digit written smaller",
        "  than that is read as blank; on a registered page such a box is looked at again",
        "  (`framedprep.traces`) and doubted, so the rules or a person decide.",
        "- Frame remnants are removed only where they touch the crop's edge, and rules only when",
        "  they cross the box from side to side; a 7 whose bar lies on the top edge can lose it.",
        "- Probabilities of an int8 softmax are coarse (steps of 1/256); treat them as a ranking",
        "  and a flagging signal, not a calibrated probability.",
        "",
    ]
    (out / "MODEL_CARD.md").write_text("\n".join(lines))


def write_card_and_metrics(out: Path, shared: Path, training: dict[str, Any]) -> None:
    digits._load.cache_clear()
    measured = measure(shared, out / "digits.tflite")
    measured["training"] = training
    (out / "metrics.json").write_text(json.dumps(measured, indent=2) + "\n")
    write_card(out, measured, training)
