"""Check the rendered docs in a real browser: screenshot method pages with headless Chromium.

For each page: the HTML must reference its generated SVG figures (``_images/<name>.svg``), each
SVG must exist and hold drawn elements, and the screenshot must not be blank (its grey levels
must vary: a blank or failed render is a single colour). Exits 1 with the reasons otherwise.

Usage (after ``make docs``; Chromium from apt: ``apt-get install chromium``)::

    .venv/bin/python docs/screenshot_check.py
    .venv/bin/python docs/screenshot_check.py --pages methods/greedy_search.html --out /tmp/shots

The screenshots stay in ``--out`` (default ``docs/_build/screenshots``) to look at.
"""

from __future__ import annotations

import argparse
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

DOCS = Path(__file__).resolve().parent
DEFAULT_PAGES = ("methods/fast_beam_search.html", "methods/fast_beam_search_nbest_LG.html")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
)
#: A screenshot whose grey-level standard deviation is below this is called blank.
MIN_GREY_STD = 8.0


def find_chromium(explicit: str | None) -> str:
    for name in ([explicit] if explicit else CHROMIUM_NAMES):
        path = shutil.which(name) if name else None
        if path:
            return path
    sys.exit("screenshot_check: no Chromium found (apt-get install chromium, or pass --chromium)")


def read_png_grey(path: Path) -> tuple[int, int, list[int]]:
    """Width, height and the grey levels (0..255) of an 8-bit RGB/RGBA/grey PNG, decoded with
    zlib only (no imaging library needed)."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            if depth != 8 or color not in (0, 2, 4, 6):
                raise ValueError(f"{path}: unsupported PNG (bit depth {depth}, colour {color})")
            channels = {0: 1, 2: 3, 4: 2, 6: 4}[color]
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    grey: list[int] = []
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            up_left = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else up_left)
                line[i] = (line[i] + pred) & 255
        previous = line
        if channels >= 3:
            grey.extend((line[i] + line[i + 1] + line[i + 2]) // 3
                        for i in range(0, stride, channels))
        else:
            grey.extend(line[i] for i in range(0, stride, channels))
    return width, height, grey


def grey_std(values: list[int]) -> float:
    mean = sum(values) / len(values)
    return (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5


def check_figures(html_path: Path) -> tuple[list[str], list[str]]:
    """The generated SVGs a page shows, and the problems found with them."""
    html = html_path.read_text(encoding="utf-8")
    problems = []
    svgs = re.findall(r'<img[^>]*src="([^"]+\.svg)"', html)
    if not svgs:
        problems.append(f"{html_path}: no SVG figure in the HTML")
    if 'class="generated-figure' not in html:
        problems.append(f"{html_path}: no generated-figure block in the HTML")
    for src in svgs:
        svg = (html_path.parent / src).resolve()
        if not svg.is_file():
            problems.append(f"{html_path}: figure {src} is missing")
            continue
        text = svg.read_text(encoding="utf-8", errors="replace")
        if "<svg" not in text or not re.search(r"<(g|path|rect|polygon|ellipse|text)\b", text):
            problems.append(f"{svg}: the SVG draws nothing")
    return svgs, problems


def screenshot(chromium: str, html_path: Path, png: Path, size: str) -> None:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
               f"--window-size={size}", html_path.resolve().as_uri()]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if not png.is_file():
        raise RuntimeError(f"Chromium wrote no screenshot for {html_path} "
                           f"(exit {result.returncode}): {result.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html-dir", type=Path, default=DOCS / "_build/html")
    parser.add_argument("--pages", nargs="+", default=list(DEFAULT_PAGES),
                        help="pages relative to --html-dir")
    parser.add_argument("--out", type=Path, default=DOCS / "_build/screenshots")
    parser.add_argument("--chromium", default=None, help="browser executable")
    parser.add_argument("--window-size", default="1280,2000")
    args = parser.parse_args(argv)

    chromium = find_chromium(args.chromium)
    args.out.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    for page in args.pages:
        html_path = args.html_dir / page
        if not html_path.is_file():
            problems.append(f"{html_path}: not built (run make docs first)")
            continue
        svgs, page_problems = check_figures(html_path)
        problems += page_problems
        png = args.out / (page.replace("/", "_").removesuffix(".html") + ".png")
        png.unlink(missing_ok=True)
        try:
            screenshot(chromium, html_path, png, args.window_size)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            problems.append(str(e))
            continue
        width, height, grey = read_png_grey(png)
        std = grey_std(grey)
        dark = sum(v < 128 for v in grey) / len(grey)
        print(f"{page}: {len(svgs)} SVG figures, screenshot {png} {width}x{height}, "
              f"grey std {std:.1f}, dark pixels {100 * dark:.1f} %")
        if std < MIN_GREY_STD:
            problems.append(f"{png}: blank screenshot (grey std {std:.1f} < {MIN_GREY_STD})")
    for problem in problems:
        print("FAIL:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
