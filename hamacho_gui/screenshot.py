"""Screenshot of the main window after training on the demo data (for the README).

Run under a virtual display:  ``xvfb-run -s "-screen 0 1600x1000x24" python -m hamacho_gui.screenshot OUT.png [WxH]
[operator]`` (default size 1600x960; ``1280x720`` shows the window on a small station screen; ``operator``: the
operator view judging the demo's defective parts in a loop).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from hamacho_core import synthetic
from hamacho_gui.main_window import MainWindow
from hamacho_gui.verdicts import NG


def _wait(window: MainWindow, name: str, timeout_s: float = 600) -> None:
    loop = QEventLoop()
    outcome = {}

    def done(task: str, result=None) -> None:
        if task == name:
            outcome["ok"] = True
            loop.quit()

    def failed(task: str, message: str) -> None:
        outcome["error"] = f"{task}: {message}"
        loop.quit()

    window.runner.finished.connect(done)
    window.runner.failed.connect(failed)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    if "error" in outcome or "ok" not in outcome:
        raise RuntimeError(outcome.get("error", f"{name} timed out"))


def _operator_view(app, window: MainWindow, data: Path, width: int, height: int):
    """The operator view after a few judged parts (the demo's defective images, in a loop)."""
    import time

    live = window.live_panel
    live.set_file_options(realtime=False, loop=True)
    live.source_edit.setText(str(data / "bad"))
    view = window.station.enter_operator_view(full_screen=False)
    view.resize(width, height)
    view.start()
    deadline = time.monotonic() + 60
    while (live.last_result is None or live.last_result.part < 5) and time.monotonic() < deadline:
        app.processEvents()
    view.refresh()
    for _ in range(20):
        app.processEvents()
    live.stop()
    return view


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0] if argv else "resources/screenshots/main_window.png")
    width, height = (int(v) for v in (argv[1] if len(argv) > 1 else "1600x960").split("x"))
    out.parent.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["HAMACHO_HOME"] = str(Path(tmp) / "home")  # default layout, no user settings touched
        data = Path(tmp) / "demo"
        synthetic.write_dataset(data, category="part", n_train_good=30, n_test_good=0, n_test_bad=9, size=256)
        window = MainWindow()
        window.resize(width, height)
        window.show()
        window.open_dataset(data)
        _wait(window, "scan")
        while window.runner.busy:  # Train is enabled once the scan's lane is idle
            app.processEvents()
        window.training_panel.train_button.click()  # the Train tab's defaults
        _wait(window, "train")
        verdicts = window.results_panel.model.verdicts
        defective = [i for i, r in enumerate(window.session.results) if r.label == 1 and verdicts[i] == NG]
        if defective:
            window.results_panel.select_row(defective[0])
        window.left_tabs.setCurrentIndex(1)
        for _ in range(20):
            app.processEvents()
        if len(argv) > 2 and argv[2] == "operator":
            _operator_view(app, window, data, width, height).grab().save(str(out))
        else:
            window.grab().save(str(out))
        window.session.changes.clear()  # a demo model: nothing to keep
        window.close()
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
