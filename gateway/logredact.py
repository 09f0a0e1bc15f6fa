"""Keep PINs, passphrases and keys out of the logs.

Logs go to journald and may be copied off the box for support; a PIN typed into a form
or a passphrase echoed by a library must not travel with them. `RedactingFilter`
masks, in every record's final text (and its traceback):

- values of secret-looking keys: `pin=246810`, `"passphrase": "..."`, `password: x`;
- werkzeug password hashes (`scrypt:...$salt$hash`) and PEM private key blocks;
- credentials in URLs (`mqtts://user:secret@host`);
- exact secrets registered from the configuration (the Wi-Fi passphrase), wherever
  they appear, even without a key name next to them.

Install once, after logging is configured: `install_log_redaction(config)`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.config import BoxConfig

MASK = "***"
# Shorter registered secrets would mask ordinary words and numbers all over the logs.
MIN_SECRET_LENGTH = 6

_KEY = (
    r"(?:[A-Za-z0-9_.-]*?(?:pin|pin_hash|password|passwd|passphrase|secret|token|"
    r"private_key|api_key|secret_key|signing_key|wpa_psk))"
)
_KEY_VALUE = re.compile(
    rf"""(?P<key>["']?\b{_KEY}["']?)(?P<sep>\s*[:=]\s*)"""
    r"""(?P<value>"[^"]*"|'[^']*'|[^\s,;&}\]\)]+)""",
    re.IGNORECASE,
)
_WERKZEUG_HASH = re.compile(r"\b(?:scrypt|pbkdf2):[^\s$\"']*\$[^\s$\"']+\$[0-9a-fA-F]+")
_PEM_PRIVATE = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL
)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^/\s@]+@")


def _mask_value(match: re.Match[str]) -> str:
    value = match.group("value")
    if value.startswith(("<", "(", MASK)) or not value.strip("\"'"):
        return match.group(0)  # already masked, or a placeholder such as <hidden>
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match.group('key')}{match.group('sep')}{quote}{MASK}{quote}"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """The text with every secret-looking value replaced by ***."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    text = _PEM_PRIVATE.sub(f"-----PRIVATE KEY {MASK}-----", text)
    text = _WERKZEUG_HASH.sub(MASK, text)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    return _KEY_VALUE.sub(_mask_value, text)


class RedactingFilter(logging.Filter):
    """A handler filter that rewrites each record's message and traceback, masked."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: list[str] = []
        self.add_secrets(secrets)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        known = set(self._secrets) | {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted(known, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a broken format string: logging reports it as usual
        masked = redact(message, self._secrets)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self._secrets)
        return True


def config_secrets(config: BoxConfig) -> list[str]:
    """The literal secrets a box configuration holds."""
    return [config.wifi.passphrase, *(a.pin_hash for a in config.accounts)]


def install_log_redaction(
    config: BoxConfig | None = None, logger: logging.Logger | None = None
) -> RedactingFilter:
    """Add one RedactingFilter to every handler of `logger` (the root logger by default).

    Call again with the configuration once it is loaded: the same filter learns its
    secrets. Handlers added later need `handler.addFilter(filter)` themselves.
    """
    target = logger or logging.getLogger()
    existing = [
        f for h in target.handlers for f in h.filters if isinstance(f, RedactingFilter)
    ]
    redactor = existing[0] if existing else RedactingFilter()
    for handler in target.handlers:
        if redactor not in handler.filters:
            handler.addFilter(redactor)
    if config is not None:
        redactor.add_secrets(config_secrets(config))
    return redactor
