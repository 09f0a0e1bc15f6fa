"""Train the digit model and export it as a full-integer int8 TFLite file.

`python -m vision.train --shared ../shared --out vision/models` (what `make model` runs).

Training data: MNIST as published, plus synthetic box crops (MNIST digits, Hershey-font digits,
the procedural hand of `vision.handwriting`, drawn X fillers and blank boxes rendered as dark
ink on light paper with border remnants, ruling lines, dotted guides, shadows, blur and JPEG)
that pass through `cellprep.prepare`, so the model learns on exactly what it will see on the
box. The 2019 real crops are only used to evaluate, never to train or tune. Every random draw
comes from one seeded generator.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from vision.model_card import lost_by_cellprep, pipeline_accuracy, write_card_and_metrics
from vision.training_boxes import LABELS, load_mnist, synthetic_set
from vision.training_pages import cache_path, pipeline_set, training_page_jobs

logger = logging.getLogger(__name__)


# Pages written small (`synthetic.SMALL_WRITING`, seeds from SMALL_SEED_BASE) in training.
# Measured on 2026-12-05 with 500 of them: CHANNELS (16, 32, 64) read 87.1% -> 91.1% of the
# held-out small boxes but over the benchmark's 500 photos 99.41% of boxes, 11.8% of pages to
# a person (the model then: 99.53%, 7.8%); (32, 64, 128): 99.50% and 10.4% (page 1: 20.4%).
# Both not kept: pages written small teach the model to doubt the default hand's boxes. With
# 250 (trained 2026-12-06, the model before this one): held-out small boxes 87.81% -> 93.57%,
# default 99.27% -> 99.15% (1,648 boxes); the benchmark's 500 photos 99.53% -> 99.52% of boxes,
# pages to a person 7.4% -> 7.8%, 0 fields wrong but not flagged; its 150 photos written small:
# boxes 96.31% -> 97.29%, fields 91.75% -> 94.45%, pages to a person 43.3% -> 42.0%;
# `classify_cells` on boxes cut 7 ways (`bench cells`), written small 86.5-89.4% -> 90.4-93.4%,
# default hand 0-0.5 points lower. The price, on the 150-photo sets of the default hand (5 MP,
# KPU's own page, a folded sheet): boxes 0.1-0.2 points lower, pages to a person 8.0 / 6.7 /
# 6.7% -> 10.0 / 9.3 / 9.3%, still 0 fields wrong but not flagged. Kept: the only real
# writing we have (the 2019 scans) is small, and a doubt costs a look where a miss costs more.
SMALL_PAGES = 250
# Pages filled with a felt-tip marker (`synthetic.MARKER_MM`, seeds from MARKER_SEED_BASE), as
# KPPS often fill the plano. With 250 (trained 2026-12-07, this model; `mnist_style` thins a
# marker's strokes for both): the benchmark's sets (`python -m bench vision`'s, each photo read
# by `read_form`), box accuracy / pages to a person, the model before -> this one: 500 photos
# 99.53% / 7.2% -> 99.55% / 8.0%; 150 filled with a marker 98.16% / 27.3% -> 99.17% / 13.3%;
# written small 97.29% / 42.0% -> 97.56% / 39.3%; 5 MP 99.45% / 9.3% -> 99.50% / 6.7%; KPU's page
# 99.42% / 8.7% -> 99.51% / 9.3%; a folded sheet 99.39% / 9.3% -> 99.44% / 10.0%; 0 fields wrong
# but not flagged in every set with either model. Kept: more read right everywhere, and a
# marker's page goes to a person half as often, for 4 more of 500 default pages.
MARKER_PAGES = 250
# Pages written bigger than the boxes (`synthetic.BIG_WRITING`, seeds from BIG_SEED_BASE): the
# digits `framedprep` keeps whole over the box's lines, and the parts it cannot. With 250
# (trained 2026-12-07; both models read with that day's `framedprep`), the benchmark's sets,
# boxes / pages to a person, the model before -> this one: 500 photos 99.52% / 8.2% ->
# 99.63% / 6.6%; written big 94.06% / 73.3% -> 96.97% / 67.3%; written small 97.88% / 35.3%
# -> 97.74% / 33.3%; marker 99.20% / 14.0% -> 99.06% / 13.3%; 5 MP 99.52% / 7.3% -> 99.62% /
# 9.3%; KPU's page 99.53% / 9.3% -> 99.55% / 8.7%; folded sheet 99.44% / 10.7% -> 99.39% /
# 10.0%; 0 fields wrong but not flagged in every set with either. MNIST test 99.35 -> 99.44%.
BIG_PAGES = 250
# Filters of the three convolution blocks: (16, 32, 64) invokes 2.7x faster (above).
# (16, 64, 128) invokes 70 boxes in 6.5 against 9.5 ms (2 threads), but trained as below
# on 2026-12-06 it read 98.91% of the held-out pipeline boxes (the model then: 99.27%, the
# same 1,648 boxes) and 99.29% of MNIST test (99.41%): not kept.
CHANNELS = (32, 64, 128)
# Depthwise-separable second and third blocks (`--separable`) invoke 2.0-2.5x faster on a
# page's 66 boxes (3.5-4.2 against 8.5 ms, 2 threads). Trained on 2026-12-06 as below with
# (32, 64, 128) and (32, 96, 192): held-out pipeline boxes 99.09% both (the model then, measured
# the same day on the same boxes: 99.27%), and over the benchmark's 500 photos 99.38% / 99.37%
# of boxes with 11.4% / 11.6% of pages to a person (the model then: 99.53%, 7.4%). Not kept: the
# read would have met its 2x-decode target at the cost of the accuracy and review targets.
SEPARABLE = False


def build_model(channels: tuple[int, int, int] = CHANNELS,
                separable: bool = SEPARABLE) -> Any:
    import tensorflow as tf

    layers = tf.keras.layers
    blocks = []
    for i, width in enumerate(channels):
        if separable and i > 0:
            # Depthwise 3x3 then pointwise 1x1: a ninth of the multiplications of a full
            # 3x3 convolution at these widths.
            blocks += [
                layers.DepthwiseConv2D(3, padding="same", use_bias=False),
                layers.BatchNormalization(),
                layers.ReLU(),
                layers.Conv2D(width, 1, use_bias=False),
            ]
        else:
            blocks.append(layers.Conv2D(width, 3, padding="same", use_bias=False))
        blocks += [
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.MaxPooling2D(),
        ]
    model = tf.keras.Sequential(
        [
            layers.Input((28, 28, 1)),
            *blocks,
            layers.Flatten(),
            layers.Dropout(0.3),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.3),
            layers.Dense(len(LABELS), activation="softmax"),
        ]
    )
    model.compile(
        optimizer=tf.keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def train(
    x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], *, epochs: int, seed: int,
    halve_every: int = 1, channels: tuple[int, int, int] = CHANNELS,
    separable: bool = SEPARABLE,
) -> Any:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    model = build_model(channels, separable)
    xf = x.astype(np.float32)[..., None] / 255.0
    schedule = tf.keras.callbacks.LearningRateScheduler(
        lambda e: 1e-3 * (0.5 ** (e // halve_every)))
    # Balanced classes: MNIST brings no X or blank, so those would otherwise count for less.
    counts = np.bincount(y, minlength=len(LABELS))
    weights = {i: float(len(y) / (len(LABELS) * c)) for i, c in enumerate(counts) if c}
    logger.info("class counts %s", counts.tolist())
    model.fit(xf, y, batch_size=128, epochs=epochs, shuffle=True, verbose=2, callbacks=[schedule],
              class_weight=weights)
    return model


def export_int8(model: Any, representative: np.ndarray[Any, Any]) -> bytes:
    import tensorflow as tf

    def samples() -> Any:
        for img in representative:
            yield [img.astype(np.float32)[None, :, :, None] / 255.0]

    with tempfile.TemporaryDirectory() as tmp:
        # Through a SavedModel: converting a Keras 3 model's concrete function directly
        # leaves variable reads in the graph that the int8 calibrator cannot run.
        model.export(tmp, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = samples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        return bytes(converter.convert())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--out", type=Path, default=Path("vision/models"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--halve-every", type=int, default=2,
                        help="epochs between halvings of the learning rate")
    parser.add_argument("--seed", type=int, default=20240214)
    parser.add_argument("--synthetic", type=int, default=36000, help="rendered box crops")
    parser.add_argument("--pages", type=int, default=1000,
                        help="synthetic photos cut by the pipeline")
    parser.add_argument("--small-pages", type=int, default=SMALL_PAGES,
                        help="more photos cut by the pipeline, the officers writing small")
    parser.add_argument("--marker-pages", type=int, default=MARKER_PAGES,
                        help="more photos cut by the pipeline, filled with a felt-tip marker")
    parser.add_argument("--big-pages", type=int, default=BIG_PAGES,
                        help="more photos cut by the pipeline, written bigger than the boxes")
    parser.add_argument("--channels", default=",".join(map(str, CHANNELS)),
                        help="filters of the three convolution blocks, e.g. 16,32,64")
    parser.add_argument("--separable", action=argparse.BooleanOptionalAction,
                        default=SEPARABLE,
                        help="depthwise-separable second and third convolution blocks")
    parser.add_argument("--page-repeat", type=int, default=2,
                        help="times each pipeline crop is shown per epoch")
    parser.add_argument(
        "--card-only", action="store_true", help="re-measure the existing model, rewrite the card"
    )
    parser.add_argument("--before", type=Path,
                        help="with --card-only: the earlier model to compare on the pipeline boxes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.card_only:
        previous = json.loads((args.out / "metrics.json").read_text())["training"]
        # Models trained before the filters were recorded have the default's.
        previous.setdefault("channels", list(CHANNELS))
        if args.before is not None:
            previous["pipeline_boxes_before"] = pipeline_accuracy(args.before)
        write_card_and_metrics(args.out, args.shared, previous)
        return 0

    started = time.monotonic()
    before = None
    if (args.out / "digits.tflite").is_file():
        before = pipeline_accuracy(args.out / "digits.tflite")
        logger.info("model before: %.4f on %s pipeline boxes", before["accuracy"], before["n"])
    channels = tuple(int(c) for c in args.channels.split(","))
    if len(channels) != 3:
        parser.error(f"--channels takes three numbers, not {args.channels!r}")
    page_x, page_y = pipeline_set(
        training_page_jobs(args.pages, args.small_pages, args.marker_pages, args.big_pages),
        cache_path(f"train{args.pages}-small{args.small_pages}-marker{args.marker_pages}"
                   f"-big{args.big_pages}"))
    # A written box that cellprep returned empty holds nothing to learn from; labelled as a
    # digit it would only teach the model to doubt every truly blank box.
    lost = lost_by_cellprep(page_x, page_y)
    page_x, page_y = page_x[~lost], page_y[~lost]
    logger.info("%s pipeline boxes from %s pages, %s of them written small, %s with a marker,"
                " %s written big (%s written boxes cellprep left empty dropped)", len(page_y),
                args.pages + args.small_pages + args.marker_pages + args.big_pages,
                args.small_pages, args.marker_pages, args.big_pages, int(lost.sum()))
    mnist_x, mnist_y = load_mnist(args.shared, "train")
    n = args.synthetic
    synth_x, synth_y = synthetic_set(
        mnist_x, mnist_y, n_digits=n // 2, n_font=n // 12, n_hand=n * 3 // 20, n_x=n * 2 // 15,
        n_blank=n // 7, seed=args.seed,
    )
    lost = lost_by_cellprep(synth_x, synth_y)
    synth_x, synth_y = synth_x[~lost], synth_y[~lost]
    logger.info("rendered %s synthetic boxes in %.0f s (%s left empty by cellprep dropped)",
                len(synth_y), time.monotonic() - started, int(lost.sum()))
    # The pipeline's own crops are the closest to what the model will see: shown more often.
    x = np.concatenate([mnist_x, synth_x] + [page_x] * args.page_repeat)
    y = np.concatenate([mnist_y, synth_y] + [page_y] * args.page_repeat)
    model = train(x, y, epochs=args.epochs, seed=args.seed, halve_every=args.halve_every,
                  channels=(channels[0], channels[1], channels[2]),
                  separable=args.separable)
    logger.info("trained in %.0f s", time.monotonic() - started)

    rng = np.random.default_rng(args.seed + 1)
    representative = x[rng.choice(len(x), 500, replace=False)]
    tflite = export_int8(model, representative)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "digits.tflite").write_bytes(tflite)
    # `titik doctor` compares the installed model with this hash.
    (args.out / "digits.sha256").write_text(hashlib.sha256(tflite).hexdigest() + "\n")
    (args.out / "labels.json").write_text(json.dumps(LABELS) + "\n")
    logger.info("wrote %s (%d bytes)", args.out / "digits.tflite", len(tflite))
    training = {
        "mnist": len(mnist_y),
        "synthetic": len(synth_y),
        "pipeline": len(page_y),
        "pipeline_pages": args.pages,
        "pipeline_small_pages": args.small_pages,
        "pipeline_marker_pages": args.marker_pages,
        "pipeline_big_pages": args.big_pages,
        "channels": list(channels),
        "separable": args.separable,
        "parameters": int(model.count_params()),
        "pipeline_repeat": args.page_repeat,
        "epochs": args.epochs,
        "halve_every": args.halve_every,
        "seed": args.seed,
        "seconds": round(time.monotonic() - started),
    }
    if before is not None:
        training["pipeline_boxes_before"] = before
    write_card_and_metrics(args.out, args.shared, training)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
