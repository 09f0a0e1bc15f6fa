"""Captive portal: a phone that joins the box's Wi-Fi opens the sign-in page by itself.

dnsmasq answers every name with the box's address, so the phones' connectivity probes
(Android `/generate_204`, Apple `/hotspot-detect.html`, Windows `/connecttest.txt`, ...)
and any page the officer types arrive here with a foreign Host header. Those get a
redirect to the sign-in page on the box's own address; requests addressed to the box
(its IP, localhost, its mDNS name) are served normally.
"""

from __future__ import annotations

import ipaddress
import re

from flask import Blueprint, Flask, redirect, request
from werkzeug.wrappers import Response

from gateway.web.state import web_state

bp = Blueprint("portal", __name__)

PROBE_PATHS = (
    "/generate_204",
    "/gen_204",
    "/hotspot-detect.html",
    "/library/test/success.html",
    "/connecttest.txt",
    "/ncsi.txt",
)


def slug(text: str) -> str:
    """`Kebon Jeruk` -> `kebon-jeruk` (DNS label: a-z, 0-9, '-')."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")[:50] or "box"


def mdns_host(kecamatan_name: str) -> str:
    return f"titik-{slug(kecamatan_name)}.local"


def _split_host(host: str) -> tuple[str, str | None]:
    if host.startswith("["):  # [ipv6]:port
        name, _, rest = host[1:].partition("]")
        return name, rest.removeprefix(":") or None
    name, sep, port = host.rpartition(":")
    return (name, port) if sep and port.isdigit() else (host, None)


def is_box_host(host: str) -> bool:
    """True when the Host header names this box (any IP literal, localhost, its mDNS name)."""
    name, _ = _split_host(host.lower())
    if not name:
        return True
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    config = web_state().config
    own = {"localhost", mdns_host(config.kecamatan.name), f"{config.box.id}.local"}
    return name.rstrip(".") in own


def sign_in_url() -> str:
    """The sign-in page on the box's Wi-Fi address, keeping the port the phone used."""
    config = web_state().config
    _, port = _split_host(request.host)
    if port is None and request.environ.get("SERVER_PORT") not in (None, "80"):
        port = str(request.environ["SERVER_PORT"])
    netloc = config.wifi.host_address + (f":{port}" if port and port != "80" else "")
    return f"http://{netloc}/masuk"


def _probe() -> Response:
    return redirect(sign_in_url(), code=302)


for _path in PROBE_PATHS:
    bp.add_url_rule(_path, endpoint="probe" + _path.replace("/", "_").replace(".", "_"),
                    view_func=_probe)


def install(app: Flask) -> None:
    """Redirect every request for a foreign host to the sign-in page."""

    @app.before_request
    def foreign_host() -> Response | None:
        if request.path in PROBE_PATHS or is_box_host(request.host):
            return None
        return redirect(sign_in_url(), code=302)
