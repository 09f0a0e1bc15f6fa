"""User-facing words: Bahasa Indonesia first, English when the user switches.

Every message the web app shows lives here under a short key, so a reviewer can read
all of them in one place and a missing translation falls back to Bahasa Indonesia.
"""

from __future__ import annotations

from typing import Any

LANGS = ("id", "en")
DEFAULT_LANG = "id"

MESSAGES: dict[str, dict[str, str]] = {
    # sign-in and session
    "app_name": {"id": "Titik", "en": "Titik"},
    "sign_in": {"id": "Masuk", "en": "Sign in"},
    "sign_out": {"id": "Keluar", "en": "Sign out"},
    "login_label": {"id": "Kode TPS atau nama pengguna", "en": "TPS code or user name"},
    "pin_label": {"id": "PIN", "en": "PIN"},
    "login_failed": {"id": "Kode atau PIN salah.", "en": "Wrong code or PIN."},
    "login_locked": {
        "id": "Terlalu banyak percobaan salah. Coba lagi dalam {minutes} menit.",
        "en": "Too many wrong attempts. Try again in {minutes} minutes.",
    },
    "account_locked": {
        "id": "Akun ini dikunci. Hubungi PPK.",
        "en": "This account is locked. Contact the PPK.",
    },
    "need_sign_in": {"id": "Silakan masuk dulu.", "en": "Please sign in first."},
    "forbidden": {
        "id": "Anda tidak boleh membuka halaman ini.",
        "en": "You may not open this page.",
    },
    "not_found": {"id": "Halaman tidak ditemukan.", "en": "Page not found."},
    "csrf_failed": {
        "id": "Formulir kedaluwarsa. Muat ulang halaman lalu coba lagi.",
        "en": "The form expired. Reload the page and try again.",
    },
    "too_large": {
        "id": "File terlalu besar (lebih dari {mb} MB). Kirim foto biasa dari kamera ponsel.",
        "en": "File too large (more than {mb} MB). Send a normal phone camera photo.",
    },
    "server_error": {
        "id": "Terjadi kesalahan di kotak Titik. Data Anda aman; coba lagi sebentar lagi.",
        "en": "Something went wrong on the Titik box. Your data is safe; try again shortly.",
    },
    "back": {"id": "Kembali", "en": "Back"},
    "language": {"id": "English", "en": "Bahasa Indonesia"},
    # KPPS flow
    "tps": {"id": "TPS", "en": "Polling station"},
    "page": {"id": "Halaman", "en": "Page"},
    "take_photo": {"id": "Ambil foto halaman", "en": "Take a photo of the page"},
    "photo_hint": {
        "id": "Foto satu halaman C.Hasil utuh, tegak, terang, tanpa bayangan.",
        "en": "Photograph one whole C.Hasil page, upright, well lit, no shadow.",
    },
    "send": {"id": "Kirim", "en": "Send"},
    "replace_confirmed": {
        "id": "Ganti halaman yang sudah dikonfirmasi (foto lama tetap disimpan)",
        "en": "Replace a confirmed page (the old photo is kept)",
    },
    "status_title": {"id": "Status halaman", "en": "Page status"},
    "state_none": {"id": "Belum dikirim", "en": "Not sent"},
    "state_missing": {"id": "Belum dikirim", "en": "Not sent"},
    "state_queued": {"id": "Diterima, menunggu dibaca", "en": "Received, waiting to be read"},
    "state_processing": {"id": "Sedang dibaca", "en": "Being read"},
    "state_read": {"id": "Sudah dibaca, perlu dikonfirmasi", "en": "Read, please confirm"},
    "state_needs_review": {"id": "Perlu diperiksa", "en": "Needs checking"},
    "state_rejected": {"id": "Foto ditolak", "en": "Photo refused"},
    "state_confirmed": {"id": "Dikonfirmasi", "en": "Confirmed"},
    "state_reviewed": {"id": "Diperiksa PPK", "en": "Reviewed by PPK"},
    "state_discarded": {"id": "Dibuang", "en": "Discarded"},
    "state_superseded": {"id": "Diganti", "en": "Replaced"},
    "state_manual": {"id": "Diisi manual", "en": "Entered by hand"},
    "relay_none": {"id": "-", "en": "-"},
    "relay_pending": {"id": "Menunggu dikirim ke pusat", "en": "Waiting to send to central"},
    "relay_published": {"id": "Terkirim ke pusat", "en": "Sent to central"},
    "relay_delivered": {"id": "Diterima pusat", "en": "Received by central"},
    "reading_wait": {
        "id": "Foto diterima. Sedang dibaca, tunggu sebentar...",
        "en": "Photo received. Reading it, please wait...",
    },
    "result_title": {"id": "Hasil bacaan", "en": "What was read"},
    "field": {"id": "Kolom", "en": "Field"},
    "value_read": {"id": "Angka terbaca", "en": "Number read"},
    "your_value": {"id": "Angka benar", "en": "Correct number"},
    "value_current": {"id": "Angka", "en": "Number"},
    "machine_value": {"id": "bacaan mesin", "en": "machine read"},
    # where a number comes from (shown to PPK and observers beside every value)
    "prov_machine": {"id": "Mesin", "en": "Machine"},
    "prov_confirmed": {
        "id": "Dikonfirmasi KPPS {actor}, {at}", "en": "Confirmed by KPPS {actor}, {at}",
    },
    "prov_kpps": {"id": "Dikoreksi KPPS {actor}, {at}", "en": "Corrected by KPPS {actor}, {at}"},
    "prov_ppk": {"id": "Dikoreksi PPK {actor}, {at}", "en": "Corrected by PPK {actor}, {at}"},
    "prov_manual": {
        "id": "Diisi manual PPK {actor}, {at}", "en": "Typed in by PPK {actor}, {at}",
    },
    "prov_approved": {"id": "Disetujui PPK {actor}, {at}", "en": "Approved by PPK {actor}, {at}"},
    "prov_reason": {"id": "alasan", "en": "reason"},
    "final_values": {"id": "Angka final", "en": "Final numbers"},
    "flagged": {"id": "Periksa!", "en": "Check!"},
    "cross_page_vouched": {
        "id": "Dikuatkan oleh halaman lain TPS ini (aturan lintas halaman)",
        "en": "Vouched for by this TPS's other pages (cross-page rules)",
    },
    "check_numbers": {
        "id": "Cocokkan setiap angka dengan kertas. Ubah yang salah, lalu tekan Konfirmasi.",
        "en": "Compare every number with the paper. Fix any wrong one, then press Confirm.",
    },
    "confirm": {"id": "Konfirmasi", "en": "Confirm"},
    "confirmed_ok": {
        "id": "Terima kasih. Halaman {page} dikonfirmasi.",
        "en": "Thank you. Page {page} is confirmed.",
    },
    "confirmed_review": {
        "id": "Halaman {page} dicatat. PPK akan memeriksa angka yang ditandai.",
        "en": "Page {page} recorded. The PPK will check the flagged numbers.",
    },
    "duplicate_photo": {
        "id": "Foto ini sudah pernah dikirim; tidak ada yang berubah.",
        "en": "This photo was already sent; nothing changed.",
    },
    "rules_failed": {"id": "Hitungan tidak cocok", "en": "Sums do not match"},
    "problems": {"id": "Masalah", "en": "Problems"},
    "photo_notes": {"id": "Catatan foto (untuk foto berikutnya)",
                    "en": "Photo notes (for the next photo)"},
    "retake": {"id": "Foto ulang", "en": "Take another photo"},
    "reason": {"id": "Alasan", "en": "Reason"},
    "uploaded_at": {"id": "Dikirim", "en": "Uploaded"},
    # upload refusals
    "err_empty": {"id": "Tidak ada file yang dikirim.", "en": "No file was sent."},
    "err_not_image": {
        "id": "File ini bukan foto. Kirim foto JPEG atau PNG dari kamera.",
        "en": "This file is not a photo. Send a JPEG or PNG camera photo.",
    },
    "err_heic": {
        "id": "Foto HEIC belum bisa dibaca. Ubah kamera ke format JPEG ('Paling Kompatibel').",
        "en": "HEIC photos cannot be read yet. Set the camera to JPEG ('Most Compatible').",
    },
    "err_truncated": {
        "id": "Foto terpotong (pengiriman terputus). Kirim ulang fotonya.",
        "en": "The photo is cut off (the transfer broke). Send it again.",
    },
    "err_too_many_pixels": {
        "id": "Foto terlalu besar ({mp} megapiksel). Pakai ukuran kamera biasa.",
        "en": "Photo too big ({mp} megapixels). Use the normal camera size.",
    },
    "err_too_small": {
        "id": "Foto terlalu kecil untuk dibaca. Foto lebih dekat dengan kamera utama.",
        "en": "Photo too small to read. Take it closer with the main camera.",
    },
    "err_corrupt": {
        "id": "Foto rusak dan tidak bisa dibuka. Foto ulang halaman itu.",
        "en": "The photo is damaged and cannot be opened. Photograph the page again.",
    },
    "err_pdf_not_allowed": {
        "id": "PDF hanya bisa dikirim oleh PPK. Kirim foto halaman.",
        "en": "Only the PPK can send a PDF. Send a photo of the page.",
    },
    "err_pdf_bad": {
        "id": "PDF rusak atau terkunci, tidak bisa dibuka.",
        "en": "The PDF is damaged or locked and cannot be opened.",
    },
    "err_pdf_pages": {
        "id": "PDF terlalu banyak halaman (paling banyak {n}).",
        "en": "The PDF has too many pages (at most {n}).",
    },
    "err_confirmed_exists": {
        "id": "Halaman ini sudah dikonfirmasi. Centang 'Ganti halaman' dan kirim ulang jika perlu.",
        "en": "This page is already confirmed. Tick 'Replace' and upload again if needed.",
    },
    "err_bad_value": {
        "id": "Angka untuk {field} harus bilangan bulat 0 sampai 9999.",
        "en": "The number for {field} must be a whole number from 0 to 9999.",
    },
    "err_missing_values": {
        "id": "Isi dulu angka yang belum terbaca: {fields}.",
        "en": "First type the numbers that could not be read: {fields}.",
    },
    "err_reason_needed": {"id": "Tuliskan alasannya.", "en": "Write the reason."},
    "err_not_ready": {
        "id": "Foto ini belum selesai dibaca atau sudah ditutup.",
        "en": "This photo is not read yet or is already closed.",
    },
    # PPK dashboard
    "dashboard": {"id": "Dasbor PPK", "en": "PPK dashboard"},
    "expected": {"id": "Diharapkan", "en": "Expected"},
    "received": {"id": "Diterima", "en": "Received"},
    "final": {"id": "Final", "en": "Final"},
    "review_queue": {"id": "Antrian periksa", "en": "Review queue"},
    "rejected_photos": {"id": "Foto ditolak", "en": "Refused photos"},
    "not_chasil": {"id": "bukan halaman C.Hasil", "en": "not a C.Hasil page"},
    "approve": {"id": "Setujui", "en": "Approve"},
    "save_correction": {"id": "Simpan koreksi", "en": "Save correction"},
    "discard": {"id": "Buang", "en": "Discard"},
    "manual_entry": {"id": "Isi manual", "en": "Manual entry"},
    "upload_for_tps": {"id": "Unggah untuk TPS", "en": "Upload for a TPS"},
    "photo_or_pdf": {"id": "Foto atau PDF", "en": "Photo or PDF"},
    "relay": {"id": "Pengiriman ke pusat", "en": "Relay to central"},
    "link_up": {"id": "Tersambung", "en": "Connected"},
    "link_down": {"id": "Terputus", "en": "Disconnected"},
    "backlog": {"id": "Antrian kirim", "en": "Backlog"},
    "last_ack": {"id": "Terakhir diterima pusat", "en": "Last central ack"},
    "relay_unknown": {"id": "Belum ada data pengiriman.", "en": "No relay data yet."},
    "health": {"id": "Kesehatan kotak", "en": "Box health"},
    "disk_free": {"id": "Disk kosong", "en": "Free disk"},
    "disk_low": {"id": "Disk hampir penuh!", "en": "Disk almost full!"},
    "to_read": {"id": "Foto menunggu dibaca", "en": "Photos waiting to be read"},
    "failed_jobs": {"id": "Gagal dibaca", "en": "Failed readings"},
    "audit_ok": {"id": "Log audit utuh", "en": "Audit log intact"},
    "audit_bad": {"id": "Log audit RUSAK", "en": "Audit log BROKEN"},
    "export": {"id": "Ekspor", "en": "Export"},
    "tps_checks": {"id": "Pemeriksaan antar halaman", "en": "Cross-page checks"},
    "checks_wait": {
        "id": "Menunggu ketiga halaman.",
        "en": "Waiting for all three pages.",
    },
    "ok": {"id": "Cocok", "en": "OK"},
    "not_ok": {"id": "Tidak cocok", "en": "Mismatch"},
    "empty_queue": {"id": "Tidak ada yang perlu diperiksa.", "en": "Nothing to review."},
    "no_rejected": {"id": "Tidak ada foto ditolak.", "en": "No refused photos."},
    "read_only": {
        "id": "Akses baca saja (pengawas/saksi).",
        "en": "Read-only access (observer).",
    },
    "saved": {"id": "Tersimpan.", "en": "Saved."},
    "uploaded_n": {
        "id": "{n} halaman diterima untuk TPS {tps}.",
        "en": "{n} page(s) received for TPS {tps}.",
    },
    "poster": {"id": "Poster Wi-Fi", "en": "Wi-Fi poster"},
    "poster_step1": {"id": "1. Sambungkan ke Wi-Fi", "en": "1. Join the Wi-Fi"},
    "poster_step2": {"id": "2. Buka alamat ini", "en": "2. Open this address"},
    "wifi_name": {"id": "Nama Wi-Fi", "en": "Wi-Fi name"},
    "wifi_password": {"id": "Kata sandi", "en": "Password"},
    # accounts (admin)
    "accounts": {"id": "Akun", "en": "Accounts"},
    "role": {"id": "Peran", "en": "Role"},
    "locked": {"id": "Dikunci", "en": "Locked"},
    "active": {"id": "Aktif", "en": "Active"},
    "lock": {"id": "Kunci", "en": "Lock"},
    "unlock": {"id": "Buka kunci", "en": "Unlock"},
    "reset_pin": {"id": "Ganti PIN", "en": "Reset PIN"},
    "new_pin": {"id": "PIN baru (min. 6)", "en": "New PIN (min. 6)"},
    "err_pin_short": {
        "id": "PIN baru minimal 6 karakter.",
        "en": "The new PIN needs at least 6 characters.",
    },
    "err_no_account": {"id": "Akun tidak dikenal.", "en": "Unknown account."},
    # receipts (tanda terima)
    "receipt": {"id": "Tanda terima", "en": "Receipt"},
    "confirmed_by": {"id": "Dikonfirmasi oleh", "en": "Confirmed by"},
    "confirmed_at": {"id": "Waktu konfirmasi", "en": "Confirmed at"},
    "receipt_help": {
        "id": "Tunjukkan kepada saksi dan pengawas untuk difoto. QR ini ditandatangani kotak "
              "Titik; siapa pun dapat memeriksa di pusat bahwa angkanya sama.",
        "en": "Show this to witnesses and supervisors to photograph. The QR is signed by the "
              "Titik box; anyone can check at central that the numbers are the same.",
    },
    "receipt_pdf": {"id": "Unduh PDF untuk dicetak", "en": "Download the PDF to print"},
    "receipt_payload": {"id": "Isi QR (teks)", "en": "QR content (text)"},
}


def translate(key: str, lang: str, **params: Any) -> str:
    """The message for `key` in `lang` (Bahasa Indonesia when missing), with `{params}` filled."""
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry[DEFAULT_LANG]
    return text.format(**params) if params else text


def pick_lang(requested: str | None) -> str:
    return requested if requested in LANGS else DEFAULT_LANG
