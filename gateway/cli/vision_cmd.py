"""`titik read` (photos -> readings) and `titik form render` (printable blank pages)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from vision.reading import Reading


def register(group: click.Group) -> None:
    group.add_command(read)
    group.add_command(form)


def _emit(obj: dict[str, Any]) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, sort_keys=False))


def _summary(reading: Reading) -> str:
    status = {
        "accepted": "DITERIMA / accepted",
        "needs_review": "PERLU DIPERIKSA / needs review",
        "rejected": "DITOLAK / rejected",
    }[reading.status]
    page = f"halaman {reading.page}" if reading.page else "halaman ?"
    lines = [f"{reading.image}: {page}, {status}"]
    lines += [f"  - {reason}" for reason in reading.reasons]
    for name, f in reading.fields.items():
        value = "-" if f.value is None else str(f.value)
        mark = "  !" if f.flagged else ""
        note = f"  ({f.reason})" if f.reason else ""
        lines.append(f"  {name:<26} {value:>6}  {f.text:<6} {f.confidence:5.3f}{mark}{note}")
    return "\n".join(lines)


@click.command()
@click.argument("photos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per photo, one per line.")
@click.option(
    "--same-tps",
    is_flag=True,
    help="The photos are pages of one TPS: also check the rules across pages.",
)
@click.option("--dpt", type=click.IntRange(min=1), default=None, help="The TPS's DPT count.")
def read(photos: tuple[Path, ...], as_json: bool, same_tps: bool, dpt: int | None) -> None:
    """Baca foto formulir C.Hasil / read photos of C.Hasil pages."""
    from vision.pipeline import NOT_AN_IMAGE, read_form
    from vision.tps_vouching import vouch_tps

    failed: list[str] = []
    pages: dict[int, Reading] = {}
    for path in photos:
        try:
            data = path.read_bytes()
        except OSError as exc:
            failed.append(str(path))
            click.echo(f"{path}: tidak bisa dibaca / cannot be read: {exc.strerror}", err=True)
            continue
        reading = read_form(data, dpt=dpt)
        reading.image = str(path)
        if NOT_AN_IMAGE in reading.reasons:
            failed.append(str(path))
        if reading.page is not None and reading.status != "rejected":
            pages[reading.page] = reading  # a later photo of a page stands for it
        if as_json:
            _emit(reading.to_dict())
        else:
            click.echo(_summary(reading))
    if same_tps:
        together = vouch_tps(pages, dpt=dpt)
        if as_json:
            _emit(together.to_dict())
        else:
            click.echo("Pemeriksaan lintas halaman / cross-page checks:")
            for c in together.checks:
                click.echo(
                    f"  {'OK ' if c.ok else 'GAGAL'} {c.rule}"
                    + (f": {c.message}" if c.message else "")
                )
            for name, rules in together.vouched.items():
                click.echo(f"  {name}: dikuatkan oleh / vouched for by {', '.join(rules)}")
            for page, r in sorted(together.pages.items()):
                click.echo(f"  halaman / page {page}: {r.status}")
    if failed:
        sys.stdout.flush()
        raise click.ClickException(
            f"{len(failed)} berkas tidak bisa dibaca / file(s) could not be read: "
            + ", ".join(failed)
        )


@click.group()
def form() -> None:
    """Formulir C.Hasil kosong / blank C.Hasil pages."""


@form.command("render")
@click.argument("page", type=click.IntRange(1, 3))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--dpi", type=click.IntRange(50, 600), default=150, show_default=True)
def render(page: int, out: Path, dpi: int) -> None:
    """Gambar halaman PAGE sebagai PNG atau PDF / draw page PAGE as PNG or PDF."""
    from vision import render as renderer

    suffix = out.suffix.lower()
    if suffix not in (".png", ".pdf"):
        raise click.ClickException(
            "--out harus berakhiran .png atau .pdf / must end in .png or .pdf"
        )
    if not out.parent.exists():
        raise click.ClickException(f"folder tidak ada / directory does not exist: {out.parent}")
    writer = renderer.write_png if suffix == ".png" else renderer.write_pdf
    try:
        written = writer(page, out, dpi=float(dpi))
    except OSError as exc:
        raise click.ClickException(f"tidak bisa menulis / cannot write {out}: {exc}") from None
    click.echo(str(written))
