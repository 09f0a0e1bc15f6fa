"""A printable A4 poster for the TPS wall: join the Wi-Fi, then open the box's address.

It shows the Wi-Fi passphrase, so only PPK and admin may open it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from gateway.web.auth import require_role
from gateway.web.portal import mdns_host
from gateway.web.state import web_state

bp = Blueprint("poster", __name__)


def _escape_wifi(text: str) -> str:
    # The WIFI: QR syntax reserves \ ; , : and " (escaped with a backslash).
    for ch in '\\;,:"':
        text = text.replace(ch, "\\" + ch)
    return text


def wifi_payload(ssid: str, passphrase: str) -> str:
    return f"WIFI:T:WPA;S:{_escape_wifi(ssid)};P:{_escape_wifi(passphrase)};;"


def qr_svg_uri(payload: str) -> str:
    import segno

    return str(segno.make(payload, error="m").svg_data_uri(scale=8, border=2))


def box_url(host: str, port: int | None) -> str:
    return f"http://{host}{'' if port in (None, 80) else f':{port}'}/"


@bp.route("/poster")
@require_role("ppk", "admin")
def poster() -> Any:
    config = web_state().config
    port = request.environ.get("SERVER_PORT")
    port_n = int(port) if port and port.isdigit() else config.web.port
    url = box_url(config.wifi.host_address, port_n)
    return render_template(
        "poster.html",
        ssid=config.wifi.ssid,
        passphrase=config.wifi.passphrase,
        wifi_qr=qr_svg_uri(wifi_payload(config.wifi.ssid, config.wifi.passphrase)),
        url=url,
        url_qr=qr_svg_uri(url),
        mdns=box_url(mdns_host(config.kecamatan.name), port_n),
    )
