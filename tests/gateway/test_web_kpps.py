"""The KPPS officer's flow through the web pages: sign in, photo, reading, confirm, status."""

from __future__ import annotations

from dataclasses import asdict

from flask.testing import FlaskClient

from gateway.store import Store
from tests.gateway.test_web_support import (
    TPS_A,
    csrf_from,
    finish_next_job,
    jpeg_photo,
    page_reading,
    sign_in,
    upload_photo,
)

pytest_plugins = ["tests.gateway.test_web_support"]

VALUES_P2 = {"suara_paslon_1": 61, "suara_paslon_2": 102, "suara_paslon_3": 47}


def test_sign_in_page_is_bahasa_first_and_has_big_fields(client: FlaskClient) -> None:
    page = client.get("/masuk").get_data(as_text=True)
    assert "Masuk" in page and "Kode TPS" in page
    assert 'name="csrf_token"' in page


def test_kpps_signs_in_and_lands_on_own_tps(client: FlaskClient) -> None:
    response = sign_in(client, TPS_A)
    assert response.status_code == 302 and response.headers["Location"].endswith("/kpps/")
    home = client.get("/kpps/").get_data(as_text=True)
    assert "TPS 001 Gambir" in home
    assert 'capture="environment"' in home and 'accept="image/*"' in home
    assert home.count("Belum dikirim") == 3  # pages 1..3 not sent yet


def test_wrong_pin_is_refused_in_plain_words(client: FlaskClient) -> None:
    response = sign_in(client, TPS_A, "000000")
    assert response.status_code == 401
    assert "Kode atau PIN salah" in response.get_data(as_text=True)
    assert client.get("/kpps/").status_code == 302  # still signed out


def test_upload_read_confirm_status(client: FlaskClient, store: Store) -> None:
    sign_in(client, TPS_A)
    response = upload_photo(client, jpeg_photo(seed=1))
    assert response.status_code == 302
    result_url = response.headers["Location"]
    waiting = client.get(result_url).get_data(as_text=True)
    assert "Sedang dibaca" in waiting or "menunggu dibaca" in waiting
    assert 'http-equiv="refresh"' in waiting

    upload_id = finish_next_job(store, page_reading(2, VALUES_P2))
    assert result_url.endswith(f"/kpps/foto/{upload_id}")
    shown = client.get(result_url).get_data(as_text=True)
    for name, value in VALUES_P2.items():
        assert f'name="value-{name}"' in shown and f'value="{value}"' in shown
    assert "<svg" in shown and f"/kpps/foto/{upload_id}/halaman.jpg" in shown
    image = client.get(f"/kpps/foto/{upload_id}/halaman.jpg")
    assert image.status_code == 200 and image.mimetype == "image/jpeg"

    token = csrf_from(client, result_url)
    form = {"csrf_token": token, **{f"value-{k}": str(v) for k, v in VALUES_P2.items()}}
    form["value-suara_paslon_2"] = "120"  # the officer corrects one number
    confirmed = client.post(f"/kpps/foto/{upload_id}/konfirmasi", data=form)
    assert confirmed.status_code == 302

    upload = store.get_upload(upload_id)
    assert upload is not None and upload["state"] == "confirmed"
    assert upload["values"]["suara_paslon_2"]["value"] == 120
    assert upload["values"]["suara_paslon_2"]["machine"] == 102  # machine reading kept
    home = client.get("/kpps/").get_data(as_text=True)
    assert "Dikonfirmasi" in home


def test_same_photo_twice_is_harmless(client: FlaskClient, store: Store) -> None:
    sign_in(client, TPS_A)
    photo = jpeg_photo(seed=3)
    first = upload_photo(client, photo)
    second = upload_photo(client, photo)
    assert first.headers["Location"] == second.headers["Location"]
    assert len(store.uploads_for_tps(TPS_A)) == 1
    assert "sudah pernah dikirim" in client.get(second.headers["Location"]).get_data(as_text=True)


def test_replacing_a_confirmed_page_needs_the_explicit_choice(
    client: FlaskClient, store: Store
) -> None:
    sign_in(client, TPS_A)
    upload_photo(client, jpeg_photo(seed=4))
    first = finish_next_job(store, page_reading(2, VALUES_P2))
    store.confirm(first, actor=TPS_A, corrections={})

    upload_photo(client, jpeg_photo(seed=5))
    plain = finish_next_job(store, page_reading(2, VALUES_P2))
    token = csrf_from(client, f"/kpps/foto/{plain}")
    refused = client.post(f"/kpps/foto/{plain}/konfirmasi", data={"csrf_token": token},
                          follow_redirects=True)
    assert "sudah" in refused.get_data(as_text=True).lower()
    assert store.get_upload(plain)["state"] == "read"  # type: ignore[index]

    upload_photo(client, jpeg_photo(seed=6), replace="1")
    again = finish_next_job(store, page_reading(2, VALUES_P2))
    client.post(f"/kpps/foto/{again}/konfirmasi", data={"csrf_token": token})
    assert store.get_upload(again)["state"] == "confirmed"  # type: ignore[index]
    old = store.get_upload(first)
    assert old is not None and old["state"] == "superseded"  # kept, not deleted


def test_same_photo_for_another_tps_is_refused(app: object, client: FlaskClient,
                                               store: Store) -> None:
    photo = jpeg_photo(seed=9)
    sign_in(client, TPS_A)
    assert upload_photo(client, photo).status_code == 302
    other = app.test_client()  # type: ignore[attr-defined]
    sign_in(other, "3171011001002")
    refused = upload_photo(other, photo)
    assert refused.status_code == 422
    assert "TPS lain" in refused.get_data(as_text=True)
    assert store.uploads_for_tps("3171011001002") == []


def test_language_switches_to_english_and_back(client: FlaskClient) -> None:
    token = csrf_from(client)
    client.post("/bahasa/en", data={"csrf_token": token, "next": "/masuk"})
    assert "TPS code or user name" in client.get("/masuk").get_data(as_text=True)
    client.post("/bahasa/id", data={"csrf_token": token, "next": "/masuk"})
    assert "Kode TPS atau nama pengguna" in client.get("/masuk").get_data(as_text=True)


def test_rejected_photo_tells_the_officer_why(client: FlaskClient, store: Store) -> None:
    sign_in(client, TPS_A)
    response = upload_photo(client, jpeg_photo(seed=12))
    rejected = {**page_reading(1, {}), "status": "rejected", "template": None, "page": None,
                "reasons": ["Foto terlalu buram. Pegang ponsel diam dan foto ulang."]}
    finish_next_job(store, rejected, straightened=False)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Foto ditolak" in page and "terlalu buram" in page
    assert "Foto ulang" in page  # the way forward
    assert "/konfirmasi" not in page


def test_a_photo_read_despite_a_warning_tells_the_officer_for_next_time(
    client: FlaskClient, store: Store
) -> None:
    # The quality check warned (a folded sheet) without refusing: the reading stands and
    # the officer learns what to do next time; passed checks and refusals say nothing here.
    from vision.quality import PAPER_NOT_FLAT, paper_flatness

    sign_in(client, TPS_A)
    response = upload_photo(client, jpeg_photo(seed=15))
    reading = page_reading(2, VALUES_P2)
    reading["quality"] = {"paper_flat": asdict(paper_flatness(9.5)),
                          "blur": asdict(paper_flatness(1.0)), "refuse": False}
    finish_next_job(store, reading)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Catatan foto" in page and PAPER_NOT_FLAT in page
    assert "/konfirmasi" in page  # the numbers can still be confirmed
    notes = page.split('class="card notes"', 1)[1].split("</section>", 1)[0]
    assert notes.count("<li>") == 1  # only the warning: the passed check adds nothing


def test_confirming_a_doubtful_reading_leaves_it_for_the_ppk(
    client: FlaskClient, store: Store
) -> None:
    sign_in(client, TPS_A)
    response = upload_photo(client, jpeg_photo(seed=13))
    finish_next_job(store, page_reading(2, VALUES_P2, status="needs_review",
                                        flagged=("suara_paslon_1",)))
    token = csrf_from(client, response.headers["Location"])
    done = client.post(response.headers["Location"] + "/konfirmasi",
                       data={"csrf_token": token}, follow_redirects=True)
    assert "PPK akan memeriksa" in done.get_data(as_text=True)
    assert [u["state"] for u in store.review_queue()] == ["needs_review"]


def test_an_unreadable_number_must_be_typed_before_confirming(
    client: FlaskClient, store: Store
) -> None:
    sign_in(client, TPS_A)
    response = upload_photo(client, jpeg_photo(seed=14))
    reading = page_reading(2, VALUES_P2, status="needs_review", flagged=("suara_paslon_3",))
    reading["fields"]["suara_paslon_3"].update(value=None, text="4_")
    upload_id = finish_next_job(store, reading)
    url = response.headers["Location"]
    token = csrf_from(client, url)
    refused = client.post(url + "/konfirmasi", data={"csrf_token": token}, follow_redirects=True)
    assert "Isi dulu angka yang belum terbaca: Paslon 03" in refused.get_data(as_text=True)
    assert store.get_upload(upload_id)["officer_confirmed_by"] is None  # type: ignore[index]
    client.post(url + "/konfirmasi", data={"csrf_token": token, "value-suara_paslon_3": "47"})
    upload = store.get_upload(upload_id)
    assert upload is not None and upload["officer_confirmed_by"] == TPS_A
    assert upload["values"]["suara_paslon_3"]["value"] == 47


def test_a_typing_mistake_loses_nothing(client: FlaskClient, store: Store) -> None:
    sign_in(client, TPS_A)
    response = upload_photo(client, jpeg_photo(seed=15))
    upload_id = finish_next_job(store, page_reading(2, VALUES_P2))
    url = response.headers["Location"]
    token = csrf_from(client, url)
    refused = client.post(url + "/konfirmasi", data={
        "csrf_token": token, "value-suara_paslon_1": "16", "value-suara_paslon_2": "1O2",
        "value-suara_paslon_3": "47"})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "Angka untuk Paslon 02 harus bilangan bulat" in page
    assert 'name="value-suara_paslon_1"' in page and 'value="16"' in page  # kept as typed
    assert 'value="1O2"' in page
    assert store.get_upload(upload_id)["state"] == "read"  # type: ignore[index]


def test_a_page_2_vouched_for_by_page_3_comes_back_to_the_officer(
    client: FlaskClient, store: Store
) -> None:
    from vision.vouching import REASON_UNCHECKED

    sign_in(client, TPS_A)
    upload_photo(client, jpeg_photo(seed=21))
    doubted = page_reading(2, VALUES_P2, status="needs_review", flagged=("suara_paslon_2",))
    doubted["fields"]["suara_paslon_2"].update(reason=REASON_UNCHECKED, confidence=0.9)
    page2 = finish_next_job(store, doubted)
    assert "Dikuatkan oleh halaman lain" not in client.get(f"/kpps/foto/{page2}").get_data(
        as_text=True)
    upload_photo(client, jpeg_photo(seed=22))
    sah = sum(VALUES_P2.values())
    finish_next_job(store, page_reading(3, {"suara_sah": sah, "suara_tidak_sah": 4,
                                            "suara_total": sah + 4}))
    shown = client.get(f"/kpps/foto/{page2}").get_data(as_text=True)
    assert "Dikuatkan oleh halaman lain TPS ini" in shown
    assert "suara_paslon_sama_sah" in shown
    assert f"/kpps/foto/{page2}/konfirmasi" in shown  # the officer confirms it as read
