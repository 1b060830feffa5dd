"""Make the CJK font the report's charts ship with (aggregator/report/fonts/), with fontTools.

A dev-time tool: run it when the report's Chinese labels gain a character the shipped font
lacks (tests/test_chart_fonts.py says so), or to rebuild the font from a newer Noto release::

    .venv/bin/python tools/make_cjk_subset.py [--source /path/NotoSansCJK-Regular.ttc]

Source: the Simplified Chinese face of Noto Sans CJK (Debian ``fonts-noto-cjk``), SIL Open
Font License 1.1. The subset keeps the characters of every string of the report's catalogue
(aggregator/report/i18n.py, English and Chinese), the 6,763 hanzi of GB2312 (3,755 level 1
and 3,008 level 2: people's names in the load heatmap often use level-2 characters such as
昊 or 琦) and its symbol rows, CJK punctuation, full-width forms, Latin-1 and general
punctuation, so project and people names from the trackers render too. About 1.9 MB
(level 1 only, ``--level1-only``: about 1.0 MB).

The output is a CFF-flavoured OpenType file (.otf), not a collection: matplotlib before 3.10
reads only the first face of a .ttc (the Japanese one). It is renamed (family
:data:`FAMILY`): a modified font should not pass for the original, and "Noto" is a Google
trademark. The font declares no OFL Reserved Font Name (name table, Debian copyright file);
Adobe's Source Han Sans release of the same design reserves "Source", which the new name
avoids too.

Reproducible: the same source and script give the same bytes (head timestamps kept from
the source, not the time of the run).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
SOURCE_FAMILY = "Noto Sans CJK SC"
OUT_DIR = ROOT / "aggregator" / "report" / "fonts"
OUT_NAME = "PmohubCJKSansSC-Regular.otf"
FAMILY = "Pmohub CJK Sans SC"  # aggregator/report/charts.py SHIPPED_FAMILY
PS_NAME = "PmohubCJKSansSC-Regular"
LICENSE_NAME = "OFL.txt"
DEBIAN_COPYRIGHT = Path("/usr/share/doc/fonts-noto-cjk/copyright")


def gb2312_rows(first: int, last: int) -> set[str]:
    """The characters of GB2312 rows ``first``..``last`` (row 16 is the first hanzi row;
    16..55 are level 1, 56..87 level 2; 1..9 symbols, kana, Greek, Cyrillic)."""
    chars: set[str] = set()
    for row in range(first, last + 1):
        for cell in range(1, 95):
            try:
                chars.add(bytes([0xA0 + row, 0xA0 + cell]).decode("gb2312"))
            except UnicodeDecodeError:  # the unassigned cells (end of row 55, gaps in 1..9)
                continue
    return chars


def catalogue_chars() -> set[str]:
    """Every character of the report's catalogue, read from this checkout's i18n.py (not an
    installed pmohub, which may be older)."""
    spec = importlib.util.spec_from_file_location(
        "pmohub_i18n", ROOT / "aggregator" / "report" / "i18n.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return {c for en, zh in mod.CATALOGUE.values() for c in en + zh}


def wanted_chars(level2: bool) -> set[str]:
    chars = catalogue_chars()
    hanzi_1 = gb2312_rows(16, 55)
    assert len(hanzi_1) == 3755, len(hanzi_1)
    chars |= hanzi_1 | gb2312_rows(1, 9)
    if level2:
        chars |= gb2312_rows(56, 87)
    ranges = (
        (0x20, 0x7E),  # ASCII
        (0xA0, 0xFF),  # Latin-1
        (0x2010, 0x205E),  # general punctuation: dashes, quotes, ellipsis, per mille
        (0x3000, 0x303F),  # CJK symbols and punctuation
        (0xFF00, 0xFFEF),  # half- and full-width forms
    )
    for lo, hi in ranges:
        chars |= {chr(c) for c in range(lo, hi + 1)}
    return {c for c in chars if c.isprintable() or c == "\u3000"}


def sc_face(source: Path) -> TTFont:
    if source.suffix.lower() == ".ttc":
        coll = TTCollection(str(source))
        for font in coll.fonts:
            if font["name"].getDebugName(1) == SOURCE_FAMILY:
                return font
        raise SystemExit(f"{source}: no face named {SOURCE_FAMILY!r}")
    return TTFont(str(source))


def rename(font: TTFont) -> None:
    name = font["name"]
    src_version = name.getDebugName(5) or ""
    for rec in list(name.names):
        # typographic family/subfamily and the source's unique ID would still say Noto
        if rec.nameID in (3, 16, 17, 21, 22):
            name.removeNames(nameID=rec.nameID)
    name.setName(FAMILY, 1, 3, 1, 0x409)
    name.setName("Regular", 2, 3, 1, 0x409)
    name.setName(f"{PS_NAME};subset of {SOURCE_FAMILY} {src_version}", 3, 3, 1, 0x409)
    name.setName(FAMILY, 4, 3, 1, 0x409)
    name.setName(PS_NAME, 6, 3, 1, 0x409)
    name.setName(
        f"Subset of {SOURCE_FAMILY} ({src_version}) made by pmohub's tools/make_cjk_subset.py "
        "for the report's charts: GB2312 hanzi and symbols, CJK punctuation, full-width "
        "forms and the report's labels.",
        10,
        3,
        1,
        0x409,
    )
    for rec in list(name.names):  # the Mac-platform and localised duplicates of 1/4/6
        if rec.nameID in (1, 4, 6) and (rec.platformID != 3 or rec.langID != 0x409):
            name.removeNames(nameID=rec.nameID, platformID=rec.platformID, langID=rec.langID)
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = [PS_NAME]
        top = cff.topDictIndex[0]
        top.FullName = FAMILY
        top.FamilyName = FAMILY


def ofl_text(copyright_file: Path = DEBIAN_COPYRIGHT) -> str:
    """The SIL Open Font License 1.1 as Debian ships it with the font (the ``License:
    SIL-1.1`` paragraph of the machine-readable copyright file, unindented)."""
    lines = copyright_file.read_text(encoding="utf-8").splitlines()
    # the stand-alone paragraph, not the one-line reference in the "Files: *" stanza
    start = next(
        i + 1
        for i, line in enumerate(lines[:-1])
        if line == "License: SIL-1.1" and lines[i + 1].startswith(" ")
    )
    body = []
    for line in lines[start:]:
        if not line.startswith(" "):
            break
        body.append("" if line == " ." else line[1:])
    return "\n".join(body).strip() + "\n"


def write_license(font: TTFont, path: Path) -> None:
    name = font["name"]
    header = (
        f"{FAMILY} ({path.parent.name}/{OUT_NAME}) is a subset of {SOURCE_FAMILY},\n"
        f"{name.getDebugName(5)}, made by tools/make_cjk_subset.py and renamed.\n"
        "Source: https://github.com/googlefonts/noto-cjk (Debian package fonts-noto-cjk).\n"
        "\n"
        f"Copyright notice of the source font: {name.getDebugName(0)}\n"
        f"{name.getDebugName(7)}\n"
        "Reserved Font Name: neither the source font's name table nor Debian's copyright\n"
        "file declares one. Adobe's own release of the same design (Source Han Sans) and some\n"
        "redistributions of Noto Sans SC carry Adobe's Reserved Font Name 'Source'; the\n"
        "subset's name uses neither 'Source' nor 'Noto' (a Google trademark).\n"
        "\n"
        "The subset, like the source font, is licensed under the SIL Open Font License 1.1:\n"
        "\n"
    )
    path.write_text(header + ofl_text(), encoding="utf-8")


def make(source: Path, out: Path, *, level2: bool = True) -> set[str]:
    font = sc_face(source)
    chars = wanted_chars(level2)
    cmap = font.getBestCmap()
    # the ranges hold characters Noto never drew (rare general punctuation): only a label or
    # a GB2312 character the source lacks is worth a line
    missing = sorted(
        c for c in catalogue_chars() | gb2312_rows(1, 87) if c in chars and ord(c) not in cmap
    )
    options = subset.Options()
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True  # a character the subset lacks shows as a box, not nothing
    options.layout_features = []  # matplotlib shapes no text: alternates would be dead weight
    sub = subset.Subsetter(options)
    sub.populate(unicodes=[ord(c) for c in chars if ord(c) in cmap])
    sub.subset(font)
    rename(font)
    font.recalcTimestamp = False  # reproducible bytes
    out.parent.mkdir(parents=True, exist_ok=True)
    font.save(str(out))
    if missing:
        print(f"not in the source font ({len(missing)}): {''.join(missing)[:80]}")
    write_license(font, out.parent / LICENSE_NAME)
    return {c for c in chars if ord(c) in cmap}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    ap.add_argument("--out", type=Path, default=OUT_DIR / OUT_NAME)
    ap.add_argument(
        "--level1-only",
        action="store_true",
        help="without the GB2312 level-2 hanzi (about 0.8 MB less)",
    )
    args = ap.parse_args(argv)
    kept = make(args.source, args.out, level2=not args.level1_only)
    data = args.out.read_bytes()
    print(
        f"{args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}: "
        f"{len(kept)} characters, {len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
