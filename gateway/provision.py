"""System files rendered from the box configuration: hostapd, dnsmasq, nftables, env.

`titik config render FILE --out DIR` calls `render_system_files`; provisioning copies the
results into /etc (see firmware_config/README.md). Templates live in
`firmware_config/templates/*.j2` and are rendered with undefined names as errors, so a
template that asks for something the configuration lacks fails here, not on the box.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from gateway.config import BoxConfig

logger = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "firmware_config" / "templates"

# output name -> (template name, file mode); hostapd.conf holds the Wi-Fi passphrase.
SYSTEM_FILES: dict[str, tuple[str, int]] = {
    "hostapd.conf": ("hostapd.conf.j2", 0o600),
    "dnsmasq.conf": ("dnsmasq.conf.j2", 0o644),
    "nftables.conf": ("nftables.conf.j2", 0o644),
    "titik.env": ("titik.env.j2", 0o644),
    "titik-wifi.network": ("titik-wifi.network.j2", 0o644),
}

# Enough for every KPPS officer of a large kecamatan at once, with spare.
MAX_STATIONS = 64
LEASE_TIME = "12h"


class ProvisionError(Exception):
    """A system file could not be rendered or written; the message says why."""


@dataclass(frozen=True)
class RenderedFile:
    name: str
    text: str
    mode: int


def template_context(config: BoxConfig, config_path: Path) -> dict[str, Any]:
    """Values the templates use, derived once from the configuration."""
    iface = ipaddress.ip_interface(config.wifi.address)
    box_ip = str(iface.ip)
    return {
        "box_id": config.box.id,
        "source": str(config_path),
        "config_path": str(config_path),
        "data_dir": str(config.paths.data_dir),
        "wifi": config.wifi,
        "box_ip": box_ip,
        "netmask": str(iface.network.netmask),
        "lease_time": LEASE_TIME,
        "max_stations": MAX_STATIONS,
        "web_port": config.web.port,
        "portal_url": f"http://{box_ip}/",
    }


def render_system_files(
    config: BoxConfig, config_path: Path, template_dir: Path = TEMPLATE_DIR
) -> list[RenderedFile]:
    """Render every system file in memory; nothing is written."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # plain config files, not HTML
    )
    context = template_context(config, config_path.resolve())
    rendered = []
    for name, (template_name, mode) in SYSTEM_FILES.items():
        try:
            text = env.get_template(template_name).render(context)
        except jinja2.TemplateNotFound:
            raise ProvisionError(f"template {template_dir / template_name} is missing") from None
        except jinja2.UndefinedError as exc:
            raise ProvisionError(f"template {template_name}: {exc}") from None
        rendered.append(RenderedFile(name=name, text=text, mode=mode))
    return rendered


def write_system_files(files: list[RenderedFile], out_dir: Path) -> list[Path]:
    """Write rendered files atomically with their modes; an existing file is replaced whole."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for f in files:
        target = out_dir / f.name
        tmp = out_dir / f".{f.name}.tmp"
        # Created with its final mode, so the passphrase is never world-readable, even briefly.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, f.mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f.text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, f.mode)
        os.replace(tmp, target)
        logger.info("wrote %s", target)
        written.append(target)
    return written
