"""End to end in headless Chromium on a phone-sized screen: the KPPS officer signs in,
photographs page 2, sees what was read, confirms; the PPK sees it on the dashboard.

Real parts only: `create_app` on waitress in a thread, `titik worker` (the real vision
pipeline) in a subprocess, Debian's Chromium through Playwright. Screenshots go to the
pytest tmp dir (and to $TITIK_SHOTS when set, for people to look at)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.config import BoxConfig
from gateway.store import Store
from gateway.web import create_app
from tests.gateway.test_web_support import PIN, TPS_A, finish_next_job, jpeg_photo, page_reading

pytest_plugins = ["tests.gateway.test_web_support"]

CHROMIUM = Path("/usr/bin/chromium")
MODEL = Path(__file__).resolve().parents[2] / "vision" / "models" / "digits.tflite"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
READ_TIMEOUT_MS = 180_000  # the worker shares two busy cores with everyone else

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture()
def server(box_config: BoxConfig, store: Store) -> Iterator[str]:
    from waitress.server import create_server

    app = create_app(box_config, store)
    srv: Any = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.effective_port}"
    finally:
        srv.close()
        thread.join(timeout=10)


@pytest.fixture()
def worker(box_config: BoxConfig, demo_config_path: Path, server: str) -> Iterator[None]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "worker", "--config", str(demo_config_path),
         "--data", str(box_config.paths.data_dir), "--interval", "0.3"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture()
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's /usr/bin/chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def shots_dirs(tmp_path: Path) -> list[Path]:
    dirs = [tmp_path / "shots"]
    if os.environ.get("TITIK_SHOTS"):
        dirs.append(Path(os.environ["TITIK_SHOTS"]))
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    return dirs


def shoot(page: Any, dirs: list[Path], name: str) -> None:
    for d in dirs:
        page.screenshot(path=str(d / f"{name}.png"), full_page=True)


def sign_in(page: Any, base: str, login: str) -> None:
    page.goto(f"{base}/masuk")
    page.fill("input[name=login]", login)
    page.fill("input[name=pin]", PIN[login])
    page.click("button.primary")


def test_kpps_photo_to_ppk_dashboard(
    server: str, worker: None, browser: Any, store: Store, tmp_path: Path
) -> None:
    if not MODEL.exists():
        pytest.skip("the digit model is not built yet (make model)")
    from vision.synthetic import synthetic_photo

    photo = synthetic_photo(2, seed=5)
    shots = shots_dirs(tmp_path)
    phone = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2,
                                is_mobile=True, has_touch=True, locale="id-ID")
    page = phone.new_page()
    page.goto(f"{server}/masuk")
    shoot(page, shots, "1-masuk")
    sign_in(page, server, TPS_A)
    page.wait_for_url(f"{server}/kpps/")
    assert page.locator("text=Ambil foto halaman").is_visible()
    page.set_input_files("input[name=photo]", files=[
        {"name": "IMG_20240214_1530.jpg", "mimeType": "image/jpeg", "buffer": photo.jpeg}])
    page.click("button.primary")
    page.wait_for_url(f"{server}/kpps/foto/*")

    # The reading arrives by itself (JS poll or meta refresh); then the confirm form shows.
    page.wait_for_selector("form[action$='/konfirmasi']", timeout=READ_TIMEOUT_MS)
    for name, value in photo.values.items():
        field = page.locator(f"input[name='value-{name}']")
        assert field.count() == 1
        assert field.input_value() in (str(value), "")  # flagged boxes may be empty or wrong
    assert page.locator("figure.page svg text").count() >= 3  # numbers drawn on the page
    shoot(page, shots, "2-hasil-bacaan")
    for name, value in photo.values.items():  # the officer makes every number match the paper
        page.fill(f"input[name='value-{name}']", str(value))
    page.click("form[action$='/konfirmasi'] button.primary")
    page.wait_for_url(f"{server}/kpps/")
    assert page.locator(".flash.ok").is_visible()
    shoot(page, shots, "3-status")
    upload = store.uploads_for_tps(TPS_A)[0]
    assert upload["page"] == 2 and upload["state"] in ("confirmed", "needs_review")
    assert {k: v["value"] for k, v in upload["values"].items()} == photo.values
    phone.close()

    ppk_sees_the_page(browser, server, shots, "4-dasbor-ppk")



def ppk_sees_the_page(browser: Any, server: str, shots: list[Path], shot: str) -> None:
    """On a desk-sized screen the PPK dashboard shows TPS A's page as confirmed or in review."""
    desk = browser.new_context(viewport={"width": 1280, "height": 900})
    ppk = desk.new_page()
    sign_in(ppk, server, "ppk")
    ppk.wait_for_url(f"{server}/ppk/")
    row = ppk.locator("table.overview tr", has_text=TPS_A)
    assert row.locator(".badge.s-confirmed, .badge.s-needs_review").count() == 1
    shoot(ppk, shots, shot)
    desk.close()

def recorded_reading(page_no: int, values: dict[str, int], seed: int) -> tuple[dict[str, Any],
                                                                                 bytes]:
    """The reading a worker would store for a perfect photo: the flat filled page as the
    straightened image, each field's value and the outline of its boxes."""
    import cv2

    from vision.synthetic import filled_page
    from vision.template import template_for_page

    dpi = 100.0
    template = template_for_page(page_no)
    ok, jpeg = cv2.imencode(".jpg", filled_page(page_no, values, seed, dpi))
    assert ok
    reading = page_reading(page_no, values)
    for spec in template.fields:
        x0 = min(b[0] for b in spec.boxes_mm)
        y0 = min(b[1] for b in spec.boxes_mm)
        x1 = max(b[0] + b[2] for b in spec.boxes_mm)
        y1 = max(b[1] + b[3] for b in spec.boxes_mm)
        if spec.name in reading["fields"]:
            reading["fields"][spec.name]["box_mm"] = [x0, y0, x1 - x0, y1 - y0]
    reading["px_per_mm"] = dpi / 25.4
    return reading, jpeg.tobytes()


def test_ui_flow_in_chromium_with_recorded_reading(
    server: str, browser: Any, store: Store, tmp_path: Path
) -> None:
    """The same screens without the digit model: the test records the reading the worker
    would, through the store's worker API, while the page waits for it."""
    from vision.synthetic import synthetic_photo, tps_values

    values = tps_values(5)[2]
    photo = synthetic_photo(2, seed=5, values=values, width_px=1600)
    shots = shots_dirs(tmp_path)
    phone = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2,
                                is_mobile=True, has_touch=True, locale="id-ID")
    page = phone.new_page()
    page.goto(f"{server}/masuk")
    shoot(page, shots, "rekaman-1-masuk")
    sign_in(page, server, TPS_A)
    page.wait_for_url(f"{server}/kpps/")
    page.set_input_files("input[name=photo]", files=[
        {"name": "IMG_20240214_1530.jpg", "mimeType": "image/jpeg", "buffer": photo.jpeg}])
    page.click("button.primary")
    page.wait_for_url(f"{server}/kpps/foto/*")
    assert page.locator(".waiting").is_visible()
    reading, rectified = recorded_reading(2, values, seed=5)
    reading["fields"]["suara_paslon_3"].update(flagged=True, confidence=0.41,
                                               reason="Angka kurang jelas")
    finish_next_job(store, reading, rectified=rectified)
    page.wait_for_selector("form[action$='/konfirmasi']", timeout=60_000)
    assert page.locator("tr.flagged").count() == 1
    assert page.locator("figure.page svg text").count() == len(values)
    shoot(page, shots, "rekaman-2-hasil-bacaan")
    page.fill("input[name='value-suara_paslon_1']", str(values["suara_paslon_1"] + 1))
    page.click("form[action$='/konfirmasi'] button.primary")
    page.wait_for_url(f"{server}/kpps/")
    shoot(page, shots, "rekaman-3-status")
    upload = store.uploads_for_tps(TPS_A)[0]
    assert upload["values"]["suara_paslon_1"]["value"] == values["suara_paslon_1"] + 1
    assert upload["values"]["suara_paslon_1"]["machine"] == values["suara_paslon_1"]
    phone.close()

    ppk_sees_the_page(browser, server, shots, "rekaman-4-dasbor-ppk")


def test_upload_retries_when_the_wifi_drops(server: str, browser: Any, store: Store) -> None:
    """Two sends are lost on the way; the page's script sends again and the photo lands once."""
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    sign_in(page, server, TPS_A)
    page.wait_for_url(f"{server}/kpps/")
    dropped: list[str] = []

    def flaky(route: Any) -> None:
        if len(dropped) < 2:
            dropped.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/kpps/unggah", flaky)
    page.set_input_files("input[name=photo]", files=[
        {"name": "foto.jpg", "mimeType": "image/jpeg", "buffer": jpeg_photo(seed=41)}])
    page.click("button.primary")
    page.wait_for_url(f"{server}/kpps/foto/*", timeout=60_000)
    assert len(dropped) == 2
    assert len(store.uploads_for_tps(TPS_A)) == 1
    context.close()


def test_whole_flow_works_without_javascript(server: str, browser: Any, store: Store) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740},
                                  java_script_enabled=False)
    page = context.new_page()
    sign_in(page, server, TPS_A)
    page.wait_for_url(f"{server}/kpps/")
    page.set_input_files("input[name=photo]", files=[
        {"name": "foto.jpg", "mimeType": "image/jpeg", "buffer": jpeg_photo(seed=42)}])
    page.click("button.primary")
    page.wait_for_url(f"{server}/kpps/foto/*")
    assert page.locator(".waiting").is_visible()
    finish_next_job(store, page_reading(2, {"suara_paslon_1": 1, "suara_paslon_2": 2,
                                            "suara_paslon_3": 3}))
    # The page's meta refresh brings the reading without any script.
    page.wait_for_selector("form[action$='/konfirmasi']", timeout=30_000)
    page.click("form[action$='/konfirmasi'] button.primary")
    page.wait_for_url(f"{server}/kpps/")
    assert page.locator(".flash.ok").is_visible()
    assert store.uploads_for_tps(TPS_A)[0]["state"] == "confirmed"
    context.close()
