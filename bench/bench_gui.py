"""GUI responsiveness figures (measured here; the tests check what happens and in what order).

* the longest gap between 5 ms timer ticks on the GUI thread while the main window trains PatchCore
  (bundled backbone) on the demo data, and during a slider drag over 200 positions that re-judges the
  results and the Live model;
* the viewer's ``show_result`` and ``update_masks`` on a 2000x2000 image with a 256x256 map.

Usage::

    QT_QPA_PLATFORM=offscreen python bench/bench_gui.py [--size 256]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _gaps(app, run) -> tuple[float, int]:
    """(longest gap between timer ticks in ms, ticks) while ``run()`` drives the event loop."""
    from PySide6.QtCore import QTimer

    ticks = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    try:
        run()
    finally:
        timer.stop()
    gaps = np.diff(ticks) if len(ticks) > 1 else np.array([0.0])
    return float(gaps.max() * 1000), len(ticks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="demo image and model size (256)")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["HAMACHO_HOME"] = str(Path(tmp) / "home")
        from hamacho_core import synthetic
        from hamacho_gui.main_window import MainWindow
        from hamacho_gui.viewer import ImageViewer

        data = Path(tmp) / "data"
        synthetic.write_dataset(data, category="part", n_train_good=30, n_test_good=0, n_test_bad=9, size=args.size)
        window = MainWindow()
        window.show()

        def wait(name: str) -> None:
            loop = QEventLoop()
            window.runner.finished.connect(lambda n, _r: loop.quit() if n == name else None)
            window.runner.failed.connect(lambda n, m: (print(f"{n} failed: {m}"), loop.quit()))
            loop.exec()

        window.open_dataset(data)
        wait("scan")
        while window.runner.busy:
            app.processEvents()
        window.training_panel.set_field("image_size", args.size)
        started = time.perf_counter()
        worst, ticks = _gaps(app, lambda: (window.training_panel.train_button.click(), wait("train")))
        print(f"fit + review of {len(window.session.results)} images in {time.perf_counter() - started:.1f} s: "
              f"longest GUI stall {worst:.0f} ms over {ticks} ticks")

        slider = window.threshold_panel.image_slider

        def drag() -> None:
            for pos in np.linspace(slider.minimum(), slider.maximum(), 200).astype(int):
                slider.setValue(int(pos))
                app.processEvents()
        started = time.perf_counter()
        worst, ticks = _gaps(app, drag)
        print(f"slider drag, 200 positions in {time.perf_counter() - started:.2f} s: longest stall {worst:.0f} ms")
        window.session.changes.clear()
        window.close()

        viewer = ImageViewer()
        rng = np.random.default_rng(0)
        image = rng.integers(0, 255, (2000, 2000, 3), dtype=np.uint8)
        yy, xx = np.mgrid[:256, :256] / 256
        norm = np.exp(-((yy - 0.3) ** 2 + (xx - 0.6) ** 2) / 0.02).astype(np.float32)
        show, masks = [], []
        for _ in range(5):
            t0 = time.perf_counter()
            viewer.show_result(image, norm, norm > 0.5, norm > 0.6)
            show.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            viewer.update_masks(norm > 0.3)
            masks.append(time.perf_counter() - t0)
        print(f"viewer on 2000x2000: show_result best {min(show) * 1000:.1f} ms, update_masks best "
              f"{min(masks) * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
