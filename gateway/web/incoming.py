"""Uploaded files go straight to the photo folder as they arrive (hashed on the way), so a
5 MB photo is not spooled to /tmp, read back and written again before its 201."""

from __future__ import annotations

from typing import IO, Any

from flask import Request, request

from gateway.store import UploadResult
from gateway.store.photos import IncomingPhoto
from gateway.web.state import web_state


class UploadRequest(Request):
    """Every file part of a multipart body is streamed into `<data>/photos/.incoming`; the
    file is deleted when the request ends unless the store kept it."""

    def _get_file_stream(
        self, total_content_length: int | None, content_type: str | None,
        filename: str | None = None, content_length: int | None = None,
    ) -> IO[bytes]:
        return IncomingPhoto(web_state().data_dir)  # type: ignore[return-value]


def received_file(name: str = "photo") -> tuple[bytes, IncomingPhoto | None]:
    """The uploaded file's bytes (empty when absent) and the streamed file they came from."""
    file = request.files.get(name)
    if file is None:
        return b"", None
    stream = file.stream
    if isinstance(stream, IncomingPhoto):
        return stream.read_all(), stream
    return file.read(), None


def save_photos(
    photos: list[tuple[bytes, str]], data: bytes, incoming: IncomingPhoto | None, **kw: Any
) -> list[UploadResult]:
    """Store the checked photos: the received file itself when a photo is exactly what
    arrived (no second write), the bytes otherwise (pages rendered from a PDF)."""
    store = web_state().store
    results = []
    for photo, content_type in photos:
        if incoming is not None and photo is data:
            results.append(store.save_upload_file(incoming, content_type=content_type, **kw))
        else:
            results.append(store.save_upload(photo, content_type=content_type, **kw))
    return results
