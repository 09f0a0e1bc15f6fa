"""Central's receipt check page: paste a receipt's QR text, or upload its PDF or a photo.

Anyone holding a receipt (a witness, a supervisor, a journalist) can ask central
whether it holds exactly what the box confirmed. Read-only: it never writes.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, render_template_string, request

from sync.central.config import CentralConfig
from sync.receipt import ReceiptError, compare_with_central, verify_payload
from sync.receipt_scan import payload_from_bytes
from sync.signing import load_verify_keys

MAX_UPLOAD_MB = 10

PAGE = """<!doctype html>
<html lang="id"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Periksa tanda terima · Titik pusat</title>
<style>
body{font-family:system-ui,sans-serif;max-width:40rem;margin:auto;padding:1rem;font-size:1.1rem}
textarea,input,button{font-size:1rem;width:100%;margin:.3rem 0}button{padding:.8rem}
.ok{background:#e6f4ea;border-left:6px solid #1e7e34;padding:.8rem}
.bad{background:#fdecea;border-left:6px solid #b00020;padding:.8rem}
td,th{text-align:left;padding:.2rem .5rem}code{word-break:break-all}
</style></head><body>
<h1>Periksa tanda terima / Check a receipt</h1>
{% if error %}<p class="bad">{{ error }}</p>{% endif %}
{% if result %}
  {% set r = result.receipt %}
  <div class="{{ 'ok' if result.ok else 'bad' }}">
  {% if result.ok %}<strong>COCOK / MATCHES</strong>: tanda tangan kotak sah dan pusat menyimpan
    nilai serta foto yang sama.
  {% elif not result.key_known %}<strong>KOTAK TIDAK DIKENAL / UNKNOWN BOX</strong>: {{ r.box_id }}
  {% elif not result.signature_ok %}<strong>TANDA TANGAN PALSU / FORGED</strong>: tanda terima ini
    tidak ditandatangani oleh kotak {{ r.box_id }}.
  {% else %}<strong>BERBEDA / DIFFERS</strong>:
    <ul>{% for d in result.differences %}<li>{{ d }}</li>{% endfor %}</ul>
  {% endif %}
  </div>
  <p>Kotak {{ r.box_id }} · TPS {{ r.tps }} · halaman {{ r.page }} ·
     dikonfirmasi {{ r.confirmed_by }} {{ r.confirmed_at }}</p>
  <table>{% for k, v in r.values.items() %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}
  </table>
  <p>SHA-256 foto: <code>{{ r.photo_sha256 }}</code></p>
{% endif %}
<form method="post" enctype="multipart/form-data">
  <label>Teks QR / QR text<textarea name="payload" rows="4"></textarea></label>
  <label>atau PDF / foto tanda terima<input type="file" name="file"
         accept="application/pdf,image/*"></label>
  <button type="submit">Periksa / Check</button>
</form>
</body></html>"""


def create_verify_app(config: CentralConfig) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_UPLOAD_MB * 1024 * 1024

    @app.route("/", methods=["GET", "POST"])
    def check() -> Any:
        if request.method == "GET":
            return render_template_string(PAGE, result=None, error=None)
        upload = request.files.get("file")
        raw = upload.read() if upload is not None else b""
        raw = raw or request.form.get("payload", "").encode()
        if not raw.strip():
            return render_template_string(PAGE, result=None, error="Tidak ada tanda terima."), 400
        try:
            result = verify_payload(payload_from_bytes(raw), load_verify_keys(config.keys_dir))
        except ReceiptError as exc:
            return render_template_string(PAGE, result=None, error=str(exc)), 422
        if result.signature_ok:
            compare_with_central(result, config.database)
        return render_template_string(PAGE, result=result, error=None)

    return app
