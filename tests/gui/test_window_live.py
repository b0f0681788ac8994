"""Through the main window: what the technician sets on the Thresholds panel judges the next Live frame."""

from __future__ import annotations

import shutil

import pytest

from hamacho_core import synthetic
from hamacho_gui.main_window import MainWindow
from tests.gui.test_main_window import SIZE, open_and_train


@pytest.fixture
def window():
    win = MainWindow()
    win.show()
    yield win
    win.live_panel.stop()
    win.session.changes.clear()
    win.close()
    win.deleteLater()


def test_a_slider_move_judges_the_next_live_frame(qtbot, window, tmp_path):
    data = tmp_path / "data"
    synthetic.write_dataset(data, category="texture", n_train_good=12, n_test_good=0, n_test_bad=6, size=SIZE, seed=0)
    open_and_train(qtbot, window, data)
    frames = tmp_path / "frames"
    frames.mkdir()
    for path in sorted((data / "bad").iterdir())[:3]:  # defective: scored inside the sliders' range
        shutil.copy(path, frames / path.name)

    panel, live = window.threshold_panel, window.live_panel
    panel.image_slider.setValue(panel.image_slider.maximum())  # above every reviewed score: nothing is NG
    high = panel.thresholds().image
    assert window.session.model.image_scale.threshold == pytest.approx(high)
    window.central_tabs.setCurrentWidget(live)
    live.set_file_options(realtime=False, loop=True)  # every image judged, again and again
    assert live.start(str(frames))
    qtbot.waitUntil(lambda: live.last_result is not None and live.last_result.judge.image == high,
                    timeout=60_000)
    assert live.last_result.verdict == "OK" and live.banner.text().startswith("OK")

    panel.image_slider.setValue(panel.image_slider.minimum())  # everything is NG from now on
    low = panel.thresholds().image
    assert low < high and window.session.thresholds.image == low
    qtbot.waitUntil(lambda: live.last_result.judge.image == low, timeout=60_000)
    result = live.last_result
    assert result.verdict == "NG" and result.score >= low
    assert live.banner.text().startswith("NG") and "≥" in live.banner.text()
    assert result.comparison in live.banner.text(), "the banner shows the raw score with its threshold"
    from hamacho_core.thresholds import VERDICT_COLOURS

    assert f"background: {VERDICT_COLOURS['NG']}" in live.banner.styleSheet()
    assert window.isWindowModified(), "the moved threshold is unsaved work"
