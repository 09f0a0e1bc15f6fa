"""Read a receipt's QR payload back from a photo or from the receipt PDF."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sync.receipt import PREFIX, ReceiptError

PDF_SCALE = 3.0  # 216 dpi: the printed QR modules stay several pixels wide


def _decode_gray(gray: Any) -> str:
    import cv2

    # The classic detector is fast on a clean QR; the aruco-based one finds a QR among other
    # content (a photographed phone screen, a whole receipt page); a soft QR decodes better
    # upscaled a little.
    def attempts() -> Iterator[tuple[Any, Any]]:
        yield cv2.QRCodeDetector(), gray
        yield cv2.QRCodeDetectorAruco(), gray
        if max(gray.shape) < 2000:  # only small images: a 12 MP photo doubled is 48 MP
            yield cv2.QRCodeDetectorAruco(), cv2.resize(gray, None, fx=2, fy=2,
                                                        interpolation=cv2.INTER_CUBIC)

    for detector, image in attempts():
        text = detector.detectAndDecode(image)[0]
        if text and text.startswith(PREFIX + "."):
            return str(text)
    raise ReceiptError("QR tanda terima tidak terbaca / no receipt QR found")


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
    if len(stripped) < 4096 and stripped.isascii() and stripped.decode().isprintable():
        raise ReceiptError("bukan tanda terima Titik / not a Titik receipt")
    return payload_from_image(data)
