"""Captive portal, mDNS advertisement and the printable Wi-Fi poster."""

from __future__ import annotations

import io
import ipaddress
import socket
from urllib.parse import unquote

import pytest
from flask.testing import FlaskClient

from gateway.web.mdns import Advertiser, service_info
from gateway.web.portal import PROBE_PATHS, mdns_host, slug
from gateway.web.poster import qr_svg_uri, wifi_payload
from tests.gateway.test_web_support import (
    sign_in,
)

pytest_plugins = ["tests.gateway.test_web_support"]


@pytest.mark.parametrize("path", PROBE_PATHS)
def test_connectivity_probes_open_the_sign_in_page(client: FlaskClient, path: str) -> None:
    response = client.get(path, headers={"Host": "connectivitycheck.gstatic.com"})
    assert response.status_code == 302
    assert response.headers["Location"] == "http://10.42.0.1/masuk"


def test_probe_on_the_box_address_keeps_the_port(client: FlaskClient) -> None:
    response = client.get("/generate_204", headers={"Host": "10.42.0.1:8080"})
    assert response.headers["Location"] == "http://10.42.0.1:8080/masuk"


def test_unknown_host_goes_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/apa/saja", headers={"Host": "www.kpu.go.id"})
    assert response.status_code == 302
    assert response.headers["Location"] == "http://10.42.0.1/masuk"


@pytest.mark.parametrize("host", ["10.42.0.1", "10.42.0.1:8080", "localhost:8080",
                                  "titik-gambir.local", "[::1]:8080", "127.0.0.1"])
def test_the_box_own_names_are_served(client: FlaskClient, host: str) -> None:
    response = client.get("/masuk", headers={"Host": host})
    assert response.status_code == 200


def test_slug_and_mdns_name() -> None:
    assert slug("Kebon Jeruk") == "kebon-jeruk"
    assert slug("Tanah Abang (Pusat)") == "tanah-abang-pusat"
    assert mdns_host("Gambir") == "titik-gambir.local"


def test_service_info_announces_http_on_the_box() -> None:
    info = service_info(kecamatan_name="Kebon Jeruk", box_id="box-317101-demo", port=8080,
                        addresses=["10.42.0.1"])
    assert info.type == "_http._tcp.local."
    assert info.name == "titik-kebon-jeruk._http._tcp.local."
    assert info.server == "titik-kebon-jeruk.local."
    assert info.port == 8080
    assert [str(ipaddress.ip_address(a)) for a in info.addresses] == ["10.42.0.1"]
    assert info.properties[b"path"] == b"/"


@pytest.mark.slow
def test_advertiser_registers_and_unregisters() -> None:
    try:
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        probe.sendto(b"", ("224.0.0.251", 5353))
        probe.close()
    except OSError as exc:
        pytest.skip(f"no multicast here: {exc}")
    info = service_info(kecamatan_name="Uji Coba", box_id="box-test", port=18080,
                        addresses=["127.0.0.1"])
    advertiser = Advertiser(info)
    advertiser.start()
    try:
        from zeroconf import Zeroconf

        zc = Zeroconf()
        try:
            found = zc.get_service_info(info.type, info.name, timeout=3000)
        finally:
            zc.close()
        assert found is not None and found.port == 18080
    finally:
        advertiser.stop()


def test_wifi_qr_payload_escapes_reserved_characters() -> None:
    assert wifi_payload("TITIK-GAMBIR", "pemilu-jujur-2024") == (
        "WIFI:T:WPA;S:TITIK-GAMBIR;P:pemilu-jujur-2024;;"
    )
    assert wifi_payload('a;b', 'c:d"e') == 'WIFI:T:WPA;S:a\\;b;P:c\\:d\\"e;;'


def test_poster_has_both_qr_codes(client: FlaskClient) -> None:
    sign_in(client, "ppk")
    page = client.get("/poster").get_data(as_text=True)
    assert page.count('src="data:image/svg+xml') == 2
    assert "TITIK-GAMBIR" in page and "pemilu-jujur-2024" in page
    assert "titik-gambir.local" in page
    wifi = qr_svg_uri("WIFI:T:WPA;S:TITIK-GAMBIR;P:pemilu-jujur-2024;;")
    assert unquote(wifi) in unquote(page)
    assert unquote(qr_svg_uri("http://10.42.0.1/")) in unquote(page)


def test_wifi_qr_decodes_to_the_network() -> None:
    import cv2
    import numpy as np
    import segno

    payload = wifi_payload("TITIK-GAMBIR", "pemilu-jujur-2024")
    buf = io.BytesIO()
    segno.make(payload, error="m").save(buf, kind="png", scale=8, border=4)
    image = cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None
    decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(image)
    assert decoded == payload
