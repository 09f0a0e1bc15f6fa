"""A TPS's pages read together: page 3's `suara_sah` checks page 2's votes, which have no sum
on their own page, as a page's own sums check its fields, and never more leniently."""

from __future__ import annotations

from dataclasses import replace

import pytest

from vision.fields import REASON_LOW_CONFIDENCE
from vision.reading import Check, FieldReading, Reading
from vision.tps_vouching import REASON_CROSS_PAGE, vouch_tps
from vision.vouching import REASON_UNCHECKED

TPS = {
    1: {"pemilih_dpt_j": 250, "pengguna_dpt_j": 180, "pengguna_total_j": 186,
        "surat_suara_digunakan": 186, "pengguna_disabilitas_j": 2},
    2: {"suara_paslon_1": 63, "suara_paslon_2": 81, "suara_paslon_3": 37},
    3: {"suara_sah": 181, "suara_tidak_sah": 5, "suara_total": 186},
}  # fmt: skip


def sure(value: int) -> FieldReading:
    return FieldReading(value=value, text=f"{value:03d}", confidence=0.99, flagged=False)


def doubted(value: int, reason: str = REASON_UNCHECKED, confidence: float = 0.9,
            unsure: tuple[int, ...] = (0, 2)) -> FieldReading:
    """Read as `_63` with its last digit unsure too (boxes 0 and 2)."""
    return FieldReading(value=value, text=f"_{value:02d}", confidence=confidence, flagged=True,
                        reason=reason, unsure_boxes=unsure)


def lost_lead(value: int) -> FieldReading:
    """Read as `_63`, both digits sure: only the empty leading box is in doubt (a lost `1`?)."""
    return doubted(value, unsure=(0,))


def reading(page: int, fields: dict[str, FieldReading], checks: list[Check] | None = None
            ) -> Reading:
    flagged = [f"{n}: {f.reason}" for n, f in fields.items() if f.flagged]
    return Reading(template="C.HASIL-PPWP-2024", page=page,
                   status="needs_review" if flagged else "accepted", reasons=flagged,
                   fields=fields, checks=checks or [])


def tps(**override: FieldReading) -> dict[int, Reading]:
    pages = {}
    for page, values in TPS.items():
        fields = {name: override.get(name, sure(value)) for name, value in values.items()}
        pages[page] = reading(page, fields)
    return pages


def test_a_page_2_doubted_only_for_want_of_a_sum_is_accepted_when_page_3s_sum_holds() -> None:
    pages = tps(suara_paslon_1=doubted(63))
    result = vouch_tps(pages, dpt=250)
    assert result.vouched == {"suara_paslon_1": ["suara_paslon_sama_sah"]}
    page2 = result.pages[2]
    assert page2.status == "accepted" and page2.reasons == []
    f = page2.fields["suara_paslon_1"]
    assert not f.flagged and f.value == 63
    assert f.reason == REASON_CROSS_PAGE.format(rules="suara_paslon_sama_sah")
    assert all(c.ok for c in result.checks)
    # The page as read alone is left as it was: the caller keeps both.
    assert pages[2].status == "needs_review" and pages[2].fields["suara_paslon_1"].flagged
    assert result.to_dict()["pages"] == {"1": "accepted", "2": "accepted", "3": "accepted"}


def test_a_lost_leading_1_breaks_the_cross_page_sum_and_stays_with_a_person() -> None:
    # The officer wrote 163; the page read _63, and 63 + 81 + 37 is not page 3's 281.
    pages = tps(suara_paslon_1=doubted(63))
    pages[3] = reading(3, {"suara_sah": sure(281), "suara_tidak_sah": sure(5),
                           "suara_total": sure(286)})
    result = vouch_tps(pages)
    assert result.vouched == {}
    assert result.pages[2].status == "needs_review"
    failing = [c.rule for c in result.checks if not c.ok]
    assert "suara_paslon_sama_sah" in failing


def test_a_page_that_passed_alone_goes_to_a_person_when_a_cross_page_rule_fails() -> None:
    # Page 2 read 31 surely where the officer wrote 131 (a `1` lost in the box's line, its
    # column unbubbled); page 3's 281 valid votes say otherwise.
    pages = tps()
    pages[3] = reading(3, {"suara_sah": sure(281), "suara_tidak_sah": sure(5),
                           "suara_total": sure(286)})
    pages[1].fields["pengguna_total_j"] = sure(286)
    pages[1].fields["surat_suara_digunakan"] = sure(286)
    assert all(p.status == "accepted" for p in pages.values())
    result = vouch_tps(pages, dpt=300)
    assert [c.rule for c in result.checks if not c.ok] == ["suara_paslon_sama_sah"]
    assert result.pages[1].status == "accepted"
    for page in (2, 3):
        assert result.pages[page].status == "needs_review"
        assert "Jumlah suara paslon 1 + 2 + 3 tidak sama dengan suara sah" in " ".join(
            result.pages[page].reasons)
    f = result.pages[2].fields["suara_paslon_1"]
    assert f.flagged and f.reason == "aturan lintas halaman tidak terpenuhi: suara_paslon_sama_sah"
    assert result.pages[3].fields["suara_sah"].flagged
    # `suara_sah` in doubt, its page's sum (286 = 281 + 5) vouches for its partners no more:
    # were 281 wrong, one of them would be too.
    for name in ("suara_tidak_sah", "suara_total"):
        f = result.pages[3].fields[name]
        assert f.flagged and f.reason == (
            "tidak dapat diperiksa dengan aritmetika (suara_total), mohon periksa")
    assert pages[2].status == "accepted"  # the page as read alone is left as it was


def test_a_sum_that_held_on_a_field_the_tps_flags_vouches_for_nothing_more() -> None:
    # Hunt TPS 1903248 (written small, dim): page 3 lost the leading `1` of `suara_sah` 141
    # and of `suara_total` 144 alike, 41 + 3 = 44 held and vouched for both. Page 1's 144
    # voters flag `suara_total`; `suara_sah` rested on that same sum and goes with it.
    pages = tps()
    pages[1].fields["pengguna_total_j"] = sure(144)
    pages[1].fields["surat_suara_digunakan"] = sure(144)
    # Page 2 unreadable in one box (as there): its sum with `suara_sah` says nothing.
    gap = FieldReading(value=None, text="X1_", confidence=0.5, flagged=True,
                       reason="kotak kosong di antara angka")
    pages[2] = reading(2, {"suara_paslon_1": gap, "suara_paslon_2": sure(47),
                           "suara_paslon_3": sure(83)})
    pages[3] = reading(3, {"suara_sah": sure(41), "suara_tidak_sah": sure(3),
                           "suara_total": sure(44)})
    result = vouch_tps(pages, dpt=300)
    assert "suara_total_sama_pengguna" in [c.rule for c in result.checks if not c.ok]
    page3 = result.pages[3]
    assert page3.status == "needs_review"
    assert all(page3.fields[n].flagged for n in ("suara_sah", "suara_tidak_sah", "suara_total"))
    assert page3.fields["suara_sah"].reason == (
        "tidak dapat diperiksa dengan aritmetika (suara_total), mohon periksa")


def test_a_sure_page_beside_a_doubted_one_goes_to_a_person_when_their_sum_fails() -> None:
    # Page 3's 281 is doubted, but which of the two pages is wrong the sum cannot say: a sure
    # misreading may sit beside a doubted one.
    pages = tps()
    pages[3] = reading(3, {"suara_sah": doubted(281, reason=REASON_LOW_CONFIDENCE),
                           "suara_tidak_sah": sure(5), "suara_total": sure(186)})
    result = vouch_tps(pages, dpt=250)
    assert "suara_paslon_sama_sah" in [c.rule for c in result.checks if not c.ok]
    assert result.pages[2].status == "needs_review"
    assert all(f.flagged for f in result.pages[2].fields.values())
    assert result.vouched == {}


def test_one_sum_settles_one_doubt_not_two() -> None:
    # 63 + 81 holds as 73 + 71 would: nothing but the doubted boxes says which.
    result = vouch_tps(tps(suara_paslon_1=doubted(63), suara_paslon_2=doubted(81)), dpt=250)
    assert result.vouched == {}
    assert result.pages[2].status == "needs_review"
    # Nor when one of them doubts a written digit, even if the other only its leading box.
    result = vouch_tps(tps(suara_paslon_1=lost_lead(63), suara_paslon_2=doubted(81)), dpt=250)
    assert result.vouched == {}


def test_one_sum_settles_every_lost_leading_digit_on_its_side() -> None:
    # A lost digit only adds: 163 + 81 + 37 or 63 + 181 + 37 would both exceed 181.
    pages = tps(suara_paslon_1=lost_lead(63), suara_paslon_2=lost_lead(81),
                suara_paslon_3=lost_lead(37))
    result = vouch_tps(pages, dpt=250)
    assert result.vouched == {f"suara_paslon_{k}": ["suara_paslon_sama_sah"] for k in (1, 2, 3)}
    assert result.pages[2].status == "accepted"


def test_lost_leading_digits_on_both_sides_of_a_sum_settle_nothing_there() -> None:
    # 63 + 81 + 37 = 181 holds as 163 + 81 + 37 = 281 would: both sides may have grown.
    pages = tps(suara_paslon_1=lost_lead(63))
    pages[3].fields["suara_sah"] = lost_lead(181)
    pages[3].fields["suara_tidak_sah"] = doubted(5)
    result = vouch_tps(pages, dpt=250)
    assert result.vouched == {}


@pytest.mark.parametrize("reason", [
    "angka di kotak tidak sama dengan bulatan (kotak 2: 5 / bulatan 3)",
    "kotak kosong di antara angka",
    "aturan tidak terpenuhi: suara_total",
])
def test_a_field_flagged_for_a_disagreement_is_never_vouched(reason: str) -> None:
    result = vouch_tps(tps(suara_paslon_1=doubted(63, reason=reason)), dpt=250)
    assert result.vouched == {}
    assert result.pages[2].fields["suara_paslon_1"].flagged


def test_a_corrected_field_is_neither_vouched_nor_a_partner() -> None:
    corrected = replace(sure(81), corrected=True, read_text="087")
    result = vouch_tps(tps(suara_paslon_1=doubted(63), suara_paslon_2=corrected), dpt=250)
    assert result.vouched == {}


def test_a_doubted_pen_needs_the_confidence_one_sum_asks_for() -> None:
    weak = doubted(63, reason=REASON_LOW_CONFIDENCE, confidence=0.3)
    assert vouch_tps(tps(suara_paslon_1=weak), dpt=250).vouched == {}
    fair = doubted(63, reason=REASON_LOW_CONFIDENCE, confidence=0.6)
    assert vouch_tps(tps(suara_paslon_1=fair), dpt=250).vouched == {
        "suara_paslon_1": ["suara_paslon_sama_sah"]}


def test_any_failing_cross_page_rule_sends_the_whole_tps_to_a_person() -> None:
    # Page 1 counted 190 voters, page 3 186 votes: the TPS disagrees with itself somewhere.
    pages = tps(suara_paslon_1=doubted(63))
    pages[1].fields["pengguna_total_j"] = sure(190)
    result = vouch_tps(pages, dpt=250)
    assert result.vouched == {}
    assert {c.rule for c in result.checks if not c.ok} >= {"suara_total_sama_pengguna"}


def test_a_field_on_a_page_with_a_failing_check_of_its_own_is_not_vouched() -> None:
    pages = tps(suara_sah=doubted(181, reason=REASON_LOW_CONFIDENCE, confidence=0.95))
    pages[3].checks = [Check(rule="tanggal_bulan", ok=False, fields=["tanggal_bulan"])]
    assert vouch_tps(pages, dpt=250).vouched == {}


def test_rejected_and_missing_pages_take_no_part() -> None:
    pages = tps(suara_paslon_1=doubted(63))
    pages[3] = Reading(template=None, page=None, status="rejected", reasons=["kabur"])
    result = vouch_tps(pages, dpt=250)
    assert result.vouched == {} and result.pages[2].status == "needs_review"
    assert vouch_tps({2: pages[2]}).checks == []


def test_a_reading_survives_its_json_unchanged() -> None:
    pages = tps(suara_paslon_1=doubted(63))
    original = replace(pages[2], quality={"blur": 120.5}, timings_ms={"total": 61.0},
                       px_per_mm=5.0, photo_sha256="ab" * 32, omr={"suara_paslon_1": "none"})
    assert Reading.from_dict(original.to_dict()).to_dict() == original.to_dict()


def test_three_real_photos_of_one_tps_whose_officer_filled_no_bubbles() -> None:
    from vision.pipeline import read_form
    from vision.synthetic import BUBBLE_SKIP, BUBBLES_SKIPPED, synthetic_photo

    # Page 2 read alone: suara_paslon_2 `X71`, its columns unbubbled and nothing to check it.
    # The procedural hand, so the photos are the same with or without ../shared.
    photos = {page: synthetic_photo(page, seed=10_011, source="procedural",
                                    bubble_skip=BUBBLES_SKIPPED if page == 2 else BUBBLE_SKIP)
              for page in (1, 2, 3)}
    dpt = photos[1].values["pemilih_dpt_j"]
    pages = {page: read_form(p.jpeg, dpt=dpt) for page, p in photos.items()}
    assert pages[2].status == "needs_review"
    assert pages[2].fields["suara_paslon_2"].reason == REASON_UNCHECKED
    result = vouch_tps(pages, dpt=dpt)
    assert result.pages[2].status == "accepted"
    assert result.vouched == {"suara_paslon_2": ["suara_paslon_sama_sah"]}
    for page, photo in photos.items():
        assert result.pages[page].values == photo.values
