#!/usr/bin/env python3
"""Checks a screenshot of lpmon verify's HTML report: the charts rendered, not only the page.

The report draws unpatched bars in #1f77b4, patched bars in #ff7f0e, the patching transition
in #2ca02c and the unpatching one in #9467bd (cli/verify_html.cpp). Each colour has one legend
swatch of 12x12 = 144 pixels; the charts must add clearly more than that: a transition's bar is
at least 8 x 26 pixels, however short the transition.
"""
import sys

from PIL import Image

LEGEND = 144
COLOURS = {
    "unpatched bars": ((0x1F, 0x77, 0xB4), 2000),
    "patched bars": ((0xFF, 0x7F, 0x0E), 2000),
    "patching transition": ((0x2C, 0xA0, 0x2C), LEGEND + 100),
    "unpatching transition": ((0x94, 0x67, 0xBD), LEGEND + 100),
}

image = Image.open(sys.argv[1]).convert("RGB")
width, height = image.size
counts = {rgb: 0 for rgb, _ in COLOURS.values()}
rows = {rgb: set() for rgb, _ in COLOURS.values()}
for i, rgb in enumerate(image.getdata()):
    if rgb in counts:
        counts[rgb] += 1
        rows[rgb].add(i // width)
failed = False
for name, (rgb, minimum) in COLOURS.items():
    n = counts[rgb]
    span = f"rows {min(rows[rgb])}-{max(rows[rgb])}" if rows[rgb] else "nowhere"
    verdict = "ok" if n >= minimum else "FAIL"
    failed |= n < minimum
    print(f"{verdict}: {name} #{bytes(rgb).hex()}: {n} pixels (at least {minimum}), {span}")
non_white = sum(1 for rgb in image.getdata() if rgb != (255, 255, 255))
print(f"screenshot {width}x{height}, {non_white} non-white pixels")
sys.exit(1 if failed else 0)
