"""The Live tab's GenICam source through the main window, against Aravis's fake GigE Vision camera:
Find cameras (in a worker) fills the source, Start judges its frames."""

from __future__ import annotations

from hamacho_gui.main_window import MainWindow
from tests.line.test_genicam import CAMERA_ID, camera, model  # noqa: F401 - fixtures


def test_live_tab_finds_the_camera_and_judges_it(qtbot, camera, model, tmp_path):  # noqa: F811
    window = MainWindow()
    try:
        live = window.live_panel
        window.session.set_model(model)
        live.source_kind.setCurrentIndex(live.source_kind.findData("genicam"))
        assert live.browse_button.text() == "Find cameras..."
        with qtbot.waitSignal(live.cameras_found, timeout=20_000):
            live.browse_button.click()
        assert live.source_spec() == f"genicam:{CAMERA_ID}" and "Aravis Fake (serial GV01" in live.status_text
        assert live.start(log_path=tmp_path / "log.sqlite")
        qtbot.waitUntil(lambda: live.results_shown >= 3, timeout=30_000)
        assert live.last_result.frame.image.shape == (512, 512, 3)
        live.stop()
    finally:
        window.session.changes.clear()
        window.close()
        window.deleteLater()
