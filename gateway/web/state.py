"""What every request of the web app shares: configuration, store, accounts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from flask import current_app

from gateway.config import BoxConfig
from gateway.web.accounts import Accounts
from gateway.web.throttle import FailureWindow

if TYPE_CHECKING:
    from gateway.store import Store

EXTENSION = "titik"


@dataclass
class WebState:
    config: BoxConfig
    store: Store
    accounts: Accounts
    data_dir: Path
    # (monotonic time, ok, rows checked) of the last audit-chain verification
    audit_cache: tuple[float, bool, int] | None = None
    failed_by_ip: FailureWindow = field(default_factory=FailureWindow)


def web_state() -> WebState:
    return cast(WebState, current_app.extensions[EXTENSION])
