"""Draw the application icon: ``resources/hamacho.png`` (256 px) and ``resources/hamacho.ico`` (Windows).

Run once (``python packaging/make_icon.py``); the PNG and ICO are committed.  Uses OpenCV only, so it
works headless.  The motif: an inspection target (magnifier ring) over a part with one red defect spot.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SIZE = 256


def draw(size: int = SIZE) -> np.ndarray:
    """BGRA icon image, drawn at 4x and downsampled for smooth edges."""
    s = size * 4
    img = np.zeros((s, s, 4), np.uint8)
    aa = cv2.LINE_AA
    # rounded square background (deep blue)
    r = s // 6
    bg = (140, 70, 20, 255)
    cv2.rectangle(img, (r, 0), (s - r, s), bg, -1)
    cv2.rectangle(img, (0, r), (s, s - r), bg, -1)
    for cx, cy in ((r, r), (s - r, r), (r, s - r), (s - r, s - r)):
        cv2.circle(img, (cx, cy), r, bg, -1, aa)
    # a grey part (hexagon nut)
    c = s // 2
    pts = np.array([[c + int(0.30 * s * np.cos(a)), c + int(0.30 * s * np.sin(a))]
                    for a in np.linspace(0, 2 * np.pi, 7)[:-1] + np.pi / 6], np.int32)
    cv2.fillPoly(img, [pts], (200, 200, 200, 255), aa)
    cv2.circle(img, (c, c), int(0.12 * s), bg, -1, aa)
    # the defect, and the inspection ring around it
    d = (c + int(0.17 * s), c - int(0.12 * s))
    cv2.circle(img, d, int(0.035 * s), (40, 40, 230, 255), -1, aa)
    cv2.circle(img, d, int(0.11 * s), (60, 220, 255, 255), int(0.03 * s), aa)
    handle_a = (d[0] + int(0.08 * s), d[1] + int(0.08 * s))
    handle_b = (d[0] + int(0.2 * s), d[1] + int(0.2 * s))
    cv2.line(img, handle_a, handle_b, (60, 220, 255, 255), int(0.045 * s), aa)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def write_ico(path: Path, image: np.ndarray, sizes=(16, 32, 48, 256)) -> None:
    """A Windows .ico holding PNG-compressed images (supported since Windows Vista)."""
    blobs = []
    for n in sizes:
        ok, buf = cv2.imencode(".png", cv2.resize(image, (n, n), interpolation=cv2.INTER_AREA))
        if not ok:
            raise OSError("PNG encoding failed")
        blobs.append((n, buf.tobytes()))
    header = struct.pack("<HHH", 0, 1, len(blobs))
    offset = 6 + 16 * len(blobs)
    entries, data = b"", b""
    for n, blob in blobs:
        entries += struct.pack("<BBBBHHII", n % 256, n % 256, 0, 0, 1, 32, len(blob), offset + len(data))
        data += blob
    path.write_bytes(header + entries + data)


def main() -> None:
    image = draw()
    out = ROOT / "resources"
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise OSError("PNG encoding failed")
    (out / "hamacho.png").write_bytes(buf.tobytes())
    write_ico(out / "hamacho.ico", image)
    print(f"wrote {out / 'hamacho.png'} and {out / 'hamacho.ico'}")


if __name__ == "__main__":
    main()
