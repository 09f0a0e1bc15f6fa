"""training_pages: box crops cut by the real pipeline from synthetic photos, for training and
for the held-out measurement, labelled from what is on the paper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vision.training_boxes import BLANK_INDEX


def test_training_pages_are_cut_by_the_pipeline_and_labelled_from_the_paper() -> None:
    from vision import synthetic, training_pages

    prepared, labels = training_pages.page_crops(1, 500_000, width_px=3000, difficulty="normal",
                                        source="procedural", train_split=False)
    photo = synthetic.synthetic_photo(1, seed=500_000, source="procedural")
    written_text = "".join(photo.boxes.values())
    assert prepared.shape == (len(written_text), 28, 28)
    expected = [training_pages.BOX_LABEL[c] for c in written_text]
    assert labels.tolist() == expected
    # Empty boxes come out of cellprep (nearly all) blank, written ones with ink; the odd
    # written box cellprep loses (1 of 42 here) is exactly what training on these teaches.
    empty = labels == BLANK_INDEX
    assert empty.any() and (~empty).any()
    assert (prepared[empty].max(axis=(1, 2)) == 0).mean() >= 0.9
    assert (prepared[~empty].max(axis=(1, 2)) > 0).mean() >= 0.95


def test_training_pages_never_reuse_the_benchmark_photos() -> None:
    from vision import training_pages

    training = {seed for _, seed, *_ in training_pages.training_page_jobs(420)}
    held_out = {seed for _, seed, *_ in training_pages.held_out_page_jobs(100)}
    assert min(training) >= training_pages.PAGE_SEED_BASE > max(held_out)
    # Training pages draw MNIST train digits; the benchmark's photos MNIST test ("auto"), and
    # are scored only when the quality check lets them through, as `read_form` does.
    assert all(job[5] and not job[6] for job in training_pages.training_page_jobs(420))
    assert all(not job[5] and job[6] for job in training_pages.held_out_page_jobs(100))
    assert {job[1] for job in training_pages.training_page_jobs(6)} == set(range(500_000, 500_006))
    assert {job[0] for job in training_pages.training_page_jobs(6)} == {1, 2, 3}


@pytest.mark.parametrize(("kind", "position", "base", "after"), [
    ("small", 1, "SMALL_SEED_BASE", "PAGE_SEED_BASE"),  # written small, after the default
    ("marker", 2, "MARKER_SEED_BASE", "SMALL_SEED_BASE"),  # with a marker, after the small
    ("big", 3, "BIG_SEED_BASE", "MARKER_SEED_BASE"),  # written big, last
])
def test_each_kind_of_training_page_comes_in_its_turn_with_its_own_seeds(
        kind: str, position: int, base: str, after: str) -> None:
    from vision import training_pages

    jobs = training_pages.training_page_jobs(6, small=3, marker=3, big=3)
    assert [job[7] for job in jobs] == ["default"] * 6 + [
        k for k in ("small", "marker", "big") for _ in range(3)]
    first = 3 + 3 * position  # 6 default pages, then 3 of each kind in turn
    mine = jobs[first:first + 3]
    assert all(job[7] == kind for job in mine)
    assert [job[1] for job in mine] == [getattr(training_pages, base) + i for i in range(3)]
    assert {job[0] for job in mine} == {1, 2, 3}
    # Seeds of one kind never reach the next kind's, however many pages are made.
    assert getattr(training_pages, base) >= getattr(training_pages, after) + 1000
    # The benchmark's set of that kind: the same photos as the first, filled that way.
    held = training_pages.held_out_page_jobs(5, kind=kind)
    plain = training_pages.held_out_page_jobs(5)
    assert [job[:7] for job in held] == [job[:7] for job in plain]
    assert all(job[7] == kind for job in held) and all(job[7] == "default" for job in plain)


def test_a_training_page_written_small_holds_the_same_values_in_other_marks() -> None:
    from vision import training_pages

    def crops(kind: str) -> tuple[np.ndarray, np.ndarray]:
        return training_pages.page_crops(3, 600_001, width_px=3000, difficulty="normal",
                                         source="procedural", train_split=False, kind=kind)

    (usual, labels), (small, small_labels) = crops("default"), crops("small")
    assert labels.tolist() == small_labels.tolist()  # same officer, same values
    assert usual.shape == small.shape and not np.array_equal(usual, small)


@pytest.mark.shared
def test_training_pages_draw_mnist_train_digits(shared_dir: Path) -> None:
    from vision import handwriting, synthetic, training_pages

    handwriting._mnist_by_label.cache_clear()
    training_pages.page_crops(2, 500_000, width_px=3000, difficulty="normal", source="mnist",
                     train_split=True)
    assert handwriting._mnist_by_label.cache_info().currsize == 1  # train only, not test
    assert getattr(synthetic, "glyph") is handwriting.glyph  # noqa: B009 (restored afterwards)
