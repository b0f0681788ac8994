"""``hamacho-gui --self-test``: prove an installation works end to end, without a person at the screen.

Opens the real main window, writes the synthetic demo dataset into a temporary folder, trains PatchCore
with the bundled ``efficientnet_lite0`` backbone (no network), checks the results (image AUROC) and
exports them to CSV.  Exit status 0 on success; otherwise one line ``self-test failed: <reason>`` on
stderr and exit status 1.  Everything happens under a temporary ``HAMACHO_HOME``, so the user's
settings, models and logs are never touched.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_TIMEOUT_S = 300.0
IMAGE_SIZE = 128
MIN_IMAGE_AUROC = 0.9
SETTINGS = {"image_size": IMAGE_SIZE, "coreset_ratio": 0.2}  # set on the Train tab's own fields


class SelfTestError(Exception):
    """A check of the self-test did not pass (the message is the reason shown to the user)."""


class _Run:
    """Drives the main window through scan -> train -> export -> save from its worker lanes' signals."""

    def __init__(self, app, window, work: Path, timeout_s: float, log):
        self.app, self.window, self.work, self.timeout_s, self.log = app, window, work, timeout_s, log
        self.stage = "starting"
        self.error: str | None = None
        self.done = False
        self.image_auroc: float | None = None
        self.csv_path: Path | None = None
        self.t0 = time.monotonic()

    # --- flow ---------------------------------------------------------------------------------------
    def start(self) -> None:
        from PySide6.QtCore import QTimer

        runner = self.window.runner
        runner.finished.connect(self._on_finished)
        runner.failed.connect(self._on_failed)
        runner.cancelled.connect(lambda name: self.fail(f"{name} was cancelled"))
        files = self.window.workers.files
        files.finished.connect(self._on_finished)
        files.failed.connect(self._on_failed)
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(lambda: self.fail(f"timed out after {self.timeout_s:g} s during {self.stage}"))
        self._timer.start(max(1, int(self.timeout_s * 1000)))
        QTimer.singleShot(0, self._write_dataset)

    def _write_dataset(self) -> None:
        if self.error is not None:
            return
        from hamacho_core.synthetic import write_dataset

        self.stage = "writing the demo dataset"
        try:
            info = write_dataset(self.work / "data", category="part", n_train_good=20, n_test_good=6,
                                 n_test_bad=8, size=IMAGE_SIZE, seed=0)
        except Exception as exc:  # noqa: BLE001 - any failure is the test's result
            self.fail(f"could not write the demo dataset: {exc}")
            return
        self.log(f"demo dataset: {info['n_good']} good, {info['n_bad']} defective images ({IMAGE_SIZE} px)")
        self.stage = "scanning the dataset"
        self.window.open_dataset(self.work / "data")

    def _on_finished(self, name: str, result) -> None:
        if self.error is not None or self.done:
            return
        try:
            if name == "scan":
                dataset = self.window.dataset_panel.dataset()
                if dataset is None or not dataset.train:
                    raise SelfTestError("the demo dataset was scanned but has no good images")
                self.stage = "training PatchCore on efficientnet_lite0"
                panel = self.window.training_panel
                for field, value in SETTINGS.items():
                    panel.set_field(field, value)
                self._when_idle(panel.train_button.click)  # Train is enabled once the scan's lane is idle
            elif name == "train":
                self._check_results()
                self.stage = "exporting the results"
                self.window.export(self.work / "export")
            elif name == "export":
                csv_path = self.work / "export" / "results.csv"
                if not csv_path.is_file() or csv_path.stat().st_size == 0:
                    raise SelfTestError(f"the export did not write {csv_path.name}")
                rows = csv_path.read_text(encoding="utf-8").strip().splitlines()
                if len(rows) < 2:
                    raise SelfTestError(f"{csv_path.name} has no result rows")
                self.csv_path = csv_path
                self.log(f"exported {len(rows) - 1} rows to {csv_path.name}")
                self.stage = "saving the model into the library"
                self.window.save_model(self.window.library_dir() / "self-test.hmc")
            elif name == "save":
                if self.window.isWindowModified() or self.window.session.model_path is None:
                    raise SelfTestError("the model was saved but the window still shows unsaved changes")
                self.log(f"saved {self.window.session.model_path.name} into the model library")
                self.succeed()
        except SelfTestError as exc:
            self.fail(str(exc))
        except Exception as exc:  # noqa: BLE001
            self.fail(f"{type(exc).__name__}: {exc}")

    def _when_idle(self, action) -> None:
        runner = self.window.runner
        if not runner.busy:
            action()
            return

        def once() -> None:
            runner.idle.disconnect(once)
            action()
        runner.idle.connect(once)

    def _check_results(self) -> None:
        import numpy as np

        from hamacho_core.judging import NG
        from hamacho_core.metrics import evaluate

        results = self.window.session.results
        if not results:
            raise SelfTestError("training finished but no results were shown")
        scores = np.array([r.raw_score for r in results], dtype=np.float64)
        labels = np.array([r.label for r in results], dtype=int)
        if not np.isfinite(scores).all():
            raise SelfTestError("some anomaly scores are not finite numbers")
        predicted = self.window.session.model.judge.verdicts(scores) == NG
        metrics = evaluate(scores, predicted, labels)
        auroc = metrics.image_auroc
        if auroc is None:
            raise SelfTestError("the results do not contain both good and defective images")
        self.image_auroc = auroc
        self.log(f"trained and reviewed {len(results)} images: image AUROC {auroc:.3f}")
        if auroc < MIN_IMAGE_AUROC:
            raise SelfTestError(f"image AUROC {auroc:.3f} is below {MIN_IMAGE_AUROC}")

    def _on_failed(self, name: str, message: str) -> None:
        self.fail(f"{name} failed: {message}")

    # --- end ----------------------------------------------------------------------------------------
    def fail(self, reason: str) -> None:
        if self.error is None and not self.done:
            self.error = reason
            self._stop()

    def succeed(self) -> None:
        self.done = True
        self._stop()

    def _stop(self) -> None:
        self._timer.stop()
        self.app.quit()


def _settle_event_loop() -> None:
    """Run the application's loop once more: deferred deletes happen, and an ``app.quit()`` that
    arrived after the run (a late task's end) no longer makes every later event loop return at once
    (the caller's application stays usable, e.g. under pytest-qt)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is not None:
        QTimer.singleShot(0, app.quit)
        app.exec()


def run_self_test(timeout_s: float = DEFAULT_TIMEOUT_S, *, out=None, err=None) -> int:
    """Run the self-test in this process; returns the exit status (0 = passed, 1 = failed).

    Creates the QApplication if there is none.  ``out``/``err`` default to stdout/stderr.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    t0 = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f} s] {message}", file=out, flush=True)

    previous_home = os.environ.get("HAMACHO_HOME")
    work = Path(tempfile.mkdtemp(prefix="hamacho-selftest-"))
    os.environ["HAMACHO_HOME"] = str(work / "home")  # never the user's settings, models or logs
    error: str | None = None
    window = None
    try:
        from PySide6.QtWidgets import QApplication

        from hamacho_core import __version__
        from hamacho_gui.main_window import MainWindow

        log(f"hamacho {__version__} self-test (timeout {timeout_s:g} s)")
        app = QApplication.instance() or QApplication(sys.argv[:1])
        window = MainWindow()
        window.show()
        run = _Run(app, window, work, timeout_s, log)
        run.start()
        app.exec()
        if run.error is not None:
            error = run.error
        elif not run.done:
            error = "the application quit before the self-test finished"
    except Exception as exc:  # noqa: BLE001 - reported as one line, never a traceback
        error = f"{type(exc).__name__}: {exc}"
    finally:
        if window is not None:
            try:
                window.runner.cancel()
                if not window.workers.shutdown(timeout_ms=30000):
                    error = error or "the background task did not stop"
                window.session.changes.clear()  # a failed run quits without asking
                window.close()
                window.deleteLater()
                _settle_event_loop()
            except Exception as exc:  # noqa: BLE001
                error = error or f"closing the window failed: {exc}"
        if previous_home is None:
            os.environ.pop("HAMACHO_HOME", None)
        else:
            os.environ["HAMACHO_HOME"] = previous_home
        shutil.rmtree(work, ignore_errors=True)
    if error is not None:
        print(f"self-test failed: {error}", file=err, flush=True)
        return 1
    log("self-test passed")
    return 0
