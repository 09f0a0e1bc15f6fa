"""Read a receipt's QR payload back from a photo or from the receipt PDF."""

from __future__ import annotations

from typing import Any

from sync.receipt import PREFIX, ReceiptError

PDF_SCALE = 3.0  # 216 dpi: the printed QR modules stay several pixels wide


def _decode_gray(gray: Any) -> str:
    import cv2

    detector = cv2.QRCodeDetector()
    text, _points, _ = detector.detectAndDecode(gray)
    if not text:
        # A small or soft QR in a big photo decodes better upscaled a little.
        bigger = cv2.resize(gray, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        text, _points, _ = detector.detectAndDecode(bigger)
    if not text or not text.startswith(PREFIX + "."):
        raise ReceiptError("QR tanda terima tidak terbaca / no receipt QR found")
    return str(text)


def payload_from_image(data: bytes) -> str:
    import cv2
    import numpy as np

    gray = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise ReceiptError("bukan gambar / not an image")
    return _decode_gray(gray)


def payload_from_pdf(data: bytes) -> str:
    import numpy as np
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise ReceiptError(f"bukan PDF / not a PDF: {exc}") from None
    try:
        for page in pdf:
            image = page.render(scale=PDF_SCALE, grayscale=True).to_numpy()
            gray = image if image.ndim == 2 else image[..., 0]
            try:
                return _decode_gray(np.ascontiguousarray(gray))
            except ReceiptError:
                continue
    finally:
        pdf.close()
    raise ReceiptError("QR tanda terima tidak ada di PDF / no receipt QR in the PDF")


def payload_from_bytes(data: bytes) -> str:
    """A pasted payload, a PDF or an image: whichever the bytes are."""
    stripped = data.strip()
    if stripped.startswith(PREFIX.encode() + b"."):
        return stripped.decode("ascii", errors="replace")
    if data.startswith(b"%PDF"):
        return payload_from_pdf(data)
    return payload_from_image(data)
