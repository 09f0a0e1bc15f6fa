"""Advertise the web app on the Wi-Fi as `titik-<kecamatan>.local` (`_http._tcp`)."""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Any

from gateway.web.portal import mdns_host

logger = logging.getLogger(__name__)

SERVICE_TYPE = "_http._tcp.local."


def service_info(
    *, kecamatan_name: str, box_id: str, port: int, addresses: list[str]
) -> Any:
    """The zeroconf ServiceInfo announcing the box's web app."""
    from zeroconf import ServiceInfo

    host = mdns_host(kecamatan_name)  # titik-gambir.local
    instance = host.removesuffix(".local")
    return ServiceInfo(
        SERVICE_TYPE,
        f"{instance}.{SERVICE_TYPE}",
        addresses=[ipaddress.ip_address(a).packed for a in addresses],
        port=port,
        properties={"path": "/", "box": box_id},
        server=f"{host}.",
    )


def local_addresses(preferred: str | None = None) -> list[str]:
    """This host's IPv4 addresses to announce, the Wi-Fi address first when present."""
    found: list[str] = []
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            address = str(info[4][0])
            if address not in found and not address.startswith("127."):
                found.append(address)
    except OSError:
        logger.warning("cannot list this host's addresses for mDNS")
    if preferred in found:  # the Wi-Fi address first: that is where the phones are
        found.remove(preferred)
        found.insert(0, preferred)
    return found or ["127.0.0.1"]


class Advertiser:
    """Registers the service on start(), unregisters on stop()."""

    def __init__(self, info: Any) -> None:
        self.info = info
        self._zc: Any = None

    def start(self) -> None:
        from zeroconf import Zeroconf

        self._zc = Zeroconf()
        self._zc.register_service(self.info, allow_name_change=True)
        logger.info("mDNS: advertising %s on port %s", self.info.server, self.info.port)

    def stop(self) -> None:
        if self._zc is not None:
            self._zc.unregister_service(self.info)
            self._zc.close()
            self._zc = None
