"""The digit model: LiteRT int8 classifier of prepared 28x28 boxes, one batched invoke per page.

Classes are "0".."9", "X" (the filler KPU prescribes for unused leading boxes) and "" (blank).
The model file is `vision/models/digits.tflite`, or `$TITIK_MODEL`, or a path given by the
caller; it is loaded once per path and process.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from vision import cellprep, faint
from vision.mnist_style import SHAPELESS_SHARE

logger = logging.getLogger(__name__)

LABELS: list[str] = [str(d) for d in range(10)] + ["X", ""]
MODEL_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = MODEL_DIR / "digits.tflite"
# LiteRT threads per invocation: two of the Pi's four cores halve the model's time (measured
# here: 8 ms against 16 ms for 50 boxes), leaving two for the web server and the relay.
MODEL_THREADS = 2

Probabilities = np.ndarray[Any, np.dtype[np.float32]]


class ModelError(RuntimeError):
    """The digit model is missing or unusable."""


def model_path(path: str | os.PathLike[str] | None = None) -> Path:
    if path is not None:
        return Path(path)
    return Path(os.environ.get("TITIK_MODEL", DEFAULT_MODEL))


class DigitModel:
    """One LiteRT interpreter; invocations are serialised because an interpreter is not
    thread-safe and the web server and worker may share the process."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise ModelError(f"model berkas tidak ada / model file missing: {path}")
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:  # the slim runtime some Pi images ship instead
            from tflite_runtime.interpreter import Interpreter
        self.path = path
        self._interpreter = Interpreter(model_path=str(path), num_threads=MODEL_THREADS)
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self._batch = 0
        self._lock = threading.Lock()
        n_out = int(self._output["shape"][-1])
        if n_out != len(LABELS):
            raise ModelError(f"model has {n_out} outputs, expected {len(LABELS)}: {path}")

    def _resize(self, n: int) -> None:
        if n != self._batch:
            self._interpreter.resize_tensor_input(self._input["index"], [n, 28, 28, 1])
            self._interpreter.allocate_tensors()
            self._input = self._interpreter.get_input_details()[0]
            self._output = self._interpreter.get_output_details()[0]
            self._batch = n

    def _quantised(self, pixels: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Prepared pixel values (0..255) -> the model's input values."""
        x = pixels.astype(np.float32) / 255.0
        scale, zero = self._input["quantization"]
        if self._input["dtype"] != np.float32:
            info = np.iinfo(self._input["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max)
        return x.astype(self._input["dtype"])

    def probabilities(self, batch: np.ndarray[Any, Any]) -> Probabilities:
        """(N, 28, 28[, 1]) uint8 prepared boxes -> (N, 12) softmax probabilities."""
        batch = np.asarray(batch)
        if batch.ndim == 3:
            batch = batch[..., None]
        n = batch.shape[0]
        if n == 0:
            return np.zeros((0, len(LABELS)), np.float32)
        blank = np.asarray(~batch.reshape(n, -1).any(axis=1), bool)
        if blank.sum() < 2:
            return self._run(batch)
        # Blank boxes are all zeros, one and the same input (each box's output depends on its
        # input alone): the model sees one of them, and its answer goes to all.
        first = int(np.argmax(blank))
        run = ~blank
        run[first] = True
        at = np.cumsum(run) - 1
        at[blank] = at[first]
        return np.asarray(self._run(batch[run])[at], np.float32)

    def _run(self, batch: np.ndarray[Any, Any]) -> Probabilities:
        """One invocation of the model on (N, 28, 28, 1) prepared boxes."""
        n = batch.shape[0]
        if batch.dtype == np.uint8:
            # Each model input value depends on its byte alone: look the 256 up.
            x = self._quantised(np.arange(256, dtype=np.uint8))[batch]
        else:
            x = self._quantised(batch)
        with self._lock:
            self._resize(n)
            self._interpreter.set_tensor(self._input["index"], x)
            self._interpreter.invoke()
            raw = self._interpreter.get_tensor(self._output["index"]).copy()
        scale, zero = self._output["quantization"]
        if self._output["dtype"] != np.float32:
            raw = (raw.astype(np.float32) - zero) * scale
        return np.asarray(raw, np.float32).reshape(n, len(LABELS))


@lru_cache(maxsize=4)
def _load(path: Path) -> DigitModel:
    model = DigitModel(path)
    logger.info("digit model loaded from %s", path)
    return model


def load_model(path: str | os.PathLike[str] | None = None) -> DigitModel:
    return _load(model_path(path).resolve())


def classify_prepared(
    batch: np.ndarray[Any, Any], *, model: str | os.PathLike[str] | None = None
) -> Probabilities:
    """(N, 28, 28, 1) from `cellprep.prepare_batch` -> (N, 12) probabilities in `LABELS` order."""
    return load_model(model).probabilities(batch)


def top_k(probabilities: Probabilities, k: int = 3) -> list[list[tuple[str, float]]]:
    """Per box, the k most probable labels, best first: the alternative readings to try."""
    order = np.argsort(-probabilities, axis=1)[:, :k]
    pairs = zip(probabilities, order, strict=True)
    return [[(LABELS[j], float(row[j])) for j in idx] for row, idx in pairs]


def classify_cells(
    crops: list[np.ndarray[Any, Any]], *, model: str | os.PathLike[str] | None = None
) -> list[tuple[str, float]]:
    """Grayscale box interiors (dark ink on light paper, any size) -> (label, probability).

    A box prepared as blank that holds a faint or short mark (`faint.faint_marks`) reads as
    that mark, at most half sure, or as blank but not surely when the mark reads as nothing
    clear (`faint.doubt`); a box blacked out (`vision.blots`) as blank or what the model reads
    in it, neither surely; a blob or a dot (`mnist_style.shapeless`) as what the model
    reads, at most half sure. All boxes and marks in one invoke."""
    if not crops:
        return []
    prepared = cellprep.prepare_all(crops)
    doubted, marks = faint.faint_marks(crops, prepared)
    batch = np.concatenate([cellprep.model_input(prepared), marks])
    probs = classify_prepared(batch, model=model)
    best = probs.argmax(axis=1)
    out = [(LABELS[j], float(probs[i, j])) for i, j in enumerate(best[: len(crops)])]
    for i, mark in zip(doubted, probs[len(crops):], strict=True):
        out[i] = faint.doubt(out[i], mark, LABELS)
    for i, one in enumerate(prepared):
        if one.blot:
            out[i] = faint.doubted([out[i]], 1)[0]
        elif one.shapeless:
            out[i] = (out[i][0], SHAPELESS_SHARE * out[i][1])
    return out


@dataclass
class Evaluation:
    """Accuracy of the model on labelled crops or prepared boxes."""

    n: int
    correct: int
    per_class: dict[str, tuple[int, int]] = field(default_factory=dict)  # label -> (right, total)
    confusions: dict[str, int] = field(default_factory=dict)  # "true->read" -> count

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "per_class": {
                (k or "blank"): {"correct": c, "n": t} for k, (c, t) in self.per_class.items()
            },
            "confusions": self.confusions,
        }


def evaluate(predicted: list[str], truth: list[str]) -> Evaluation:
    result = Evaluation(n=len(truth), correct=0)
    for label in LABELS:
        total = sum(1 for t in truth if t == label)
        if total:
            right = sum(1 for p, t in zip(predicted, truth, strict=True) if t == label == p)
            result.per_class[label] = (right, total)
    for p, t in zip(predicted, truth, strict=True):
        if p == t:
            result.correct += 1
        else:
            key = f"{t or 'blank'}->{p or 'blank'}"
            result.confusions[key] = result.confusions.get(key, 0) + 1
    return result
