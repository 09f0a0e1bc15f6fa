"""`titik read` and `titik form render` as an officer or a script sees them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from gateway.cli import vision_cmd


@pytest.fixture
def cli() -> click.Group:
    group = click.Group("titik")
    vision_cmd.register(group)
    return group


def test_form_render_writes_a_png_of_the_page(cli: click.Group, tmp_path: Path) -> None:
    import cv2

    out = tmp_path / "p2.png"
    result = CliRunner().invoke(cli, ["form", "render", "2", "--out", str(out), "--dpi", "50"])
    assert result.exit_code == 0, result.output
    image = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)
    # 600 x 900 mm at 50 dpi.
    assert image is not None and abs(image.shape[1] - 1181) <= 2 and abs(image.shape[0] - 1772) <= 2


def test_form_render_writes_a_pdf(cli: click.Group, tmp_path: Path) -> None:
    out = tmp_path / "p1.pdf"
    result = CliRunner().invoke(cli, ["form", "render", "1", "--out", str(out), "--dpi", "50"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF")


def test_form_render_refuses_other_formats_and_pages(cli: click.Group, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["form", "render", "1", "--out", str(tmp_path / "p.gif")])
    assert result.exit_code != 0 and ".png atau .pdf" in result.output
    result = CliRunner().invoke(cli, ["form", "render", "4", "--out", str(tmp_path / "p.png")])
    assert result.exit_code != 0


def test_read_exits_non_zero_for_missing_and_non_image_files(
    cli: click.Group, tmp_path: Path
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("bukan foto", encoding="utf-8")
    missing = tmp_path / "missing.jpg"
    result = CliRunner().invoke(cli, ["read", "--json", str(text), str(missing)])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1
    assert lines[0]["image"] == str(text)
    assert lines[0]["status"] == "rejected"
    assert lines[0]["page"] is None and lines[0]["fields"] == {}
    assert "bukan foto" in lines[0]["reasons"][0]
    assert "missing.jpg" in result.stderr


@pytest.mark.slow
def test_read_json_prints_nothing_but_json_lines_on_stdout(tmp_path: Path) -> None:
    # Scripts pipe `titik read --json` into a JSON reader: the logs go to stderr.
    import shutil
    import subprocess
    import sys

    from vision.synthetic import synthetic_photo

    photo = tmp_path / "p3.jpg"
    photo.write_bytes(synthetic_photo(3, seed=5, source="procedural").jpeg)
    titik = shutil.which("titik", path=str(Path(sys.executable).parent)) or "titik"
    proc = subprocess.run([titik, "read", "--json", "--same-tps", str(photo)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TITIK_LOG_LEVEL": "INFO"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2
    reading, tps = (json.loads(line) for line in lines)
    assert reading["page"] == 3 and "tps_checks" in tps
    assert "digit model loaded" in proc.stderr


def test_same_tps_reads_the_pages_together(cli: click.Group, tmp_path: Path) -> None:
    # TPS seed 10011, its page 2 with no bubble filled: read alone, `suara_paslon_2` (`X71`)
    # has nothing to check it; page 3's `suara_sah` does, once the pages are read together.
    from vision.synthetic import BUBBLE_SKIP, BUBBLES_SKIPPED, synthetic_photo

    paths = []
    for page in (1, 2, 3):
        photo = synthetic_photo(page, seed=10_011, source="procedural",
                                bubble_skip=BUBBLES_SKIPPED if page == 2 else BUBBLE_SKIP)
        paths.append(tmp_path / f"p{page}.jpg")
        paths[-1].write_bytes(photo.jpeg)
    result = CliRunner().invoke(cli, ["read", "--json", "--same-tps", *map(str, paths)])
    assert result.exit_code == 0, result.output
    *readings, tps = (json.loads(line) for line in result.stdout.splitlines())
    assert [r["status"] for r in readings] == ["accepted", "needs_review", "accepted"]
    assert tps["vouched"] == {"suara_paslon_2": ["suara_paslon_sama_sah"]}
    assert tps["pages"] == {"1": "accepted", "2": "accepted", "3": "accepted"}
    assert tps["tps_checks"] and all(c["ok"] for c in tps["tps_checks"])
