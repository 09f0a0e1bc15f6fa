"""What the store refuses, in words the web app can show (Bahasa Indonesia first)."""

from __future__ import annotations


class StoreError(Exception):
    """A request the store cannot carry out; the message is for the person who asked."""


class NotFound(StoreError):
    """No such upload."""


class InvalidInput(StoreError):
    """A value, field name, TPS or page that is not acceptable."""


class Conflict(StoreError):
    """The action does not fit the upload's state (already confirmed, discarded, ...)."""
