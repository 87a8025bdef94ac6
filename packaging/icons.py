"""The Windows and macOS icons, made at build time from ``resources/icon.png`` (the one icon the
app draws, ``resources/make_icon.py``), so no derived icon file is kept in the repository.
"""

from __future__ import annotations

from pathlib import Path

ICO_SIZES = (16, 20, 24, 32, 40, 48, 64, 128, 256)


def make_icons(png: Path, out: Path) -> tuple[Path, Path]:
    """Write ``<out>/icon.ico`` (every Windows size up to 256 px) and ``<out>/icon.icns`` (Pillow
    scales the 256 px drawing to macOS's 16-1024 px set); return both paths."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    with Image.open(png) as image:
        image = image.convert("RGBA")
        if image.size != (256, 256):
            raise ValueError(
                f"{png} is {image.size[0]}×{image.size[1]} px; the icon must be 256×256"
            )
        ico, icns = out / "icon.ico", out / "icon.icns"
        image.save(ico, format="ICO", sizes=[(s, s) for s in ICO_SIZES])
        image.save(icns, format="ICNS")
    return ico, icns
