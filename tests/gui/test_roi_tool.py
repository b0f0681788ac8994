"""Drawing a region of interest with the mouse on the real viewer, and training with it."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from hamacho_gui.roi_tool import RoiTool
from hamacho_gui.viewer import ImageViewer


def _mouse(viewer, etype, scene_xy, button=Qt.MouseButton.LeftButton):
    view = viewer.view
    pos = view.mapFromScene(QPointF(*scene_xy))
    buttons = Qt.MouseButton.NoButton if etype == QEvent.Type.MouseButtonRelease else button
    event = QMouseEvent(etype, QPointF(pos), QPointF(view.viewport().mapToGlobal(pos)), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), event)


@pytest.fixture
def viewer(qtbot):
    v = ImageViewer()
    qtbot.addWidget(v)
    v.resize(600, 500)
    v.show()
    v.show_result(np.full((200, 400, 3), 90, np.uint8), None, None)
    qtbot.waitExposed(v)
    return v


def test_rectangle_by_drag(qtbot, viewer):
    tool = RoiTool(viewer)
    tool.start("rect")
    with qtbot.waitSignal(tool.roi_drawn) as signal:
        _mouse(viewer, QEvent.Type.MouseButtonPress, (100, 50))
        _mouse(viewer, QEvent.Type.MouseMove, (200, 100))
        _mouse(viewer, QEvent.Type.MouseButtonRelease, (300, 150))
    (x0, y0), (x1, y1) = signal.args[0]
    assert (x0, y0, x1, y1) == pytest.approx((0.25, 0.25, 0.75, 0.75), abs=0.01)
    assert not tool.active and not tool.item.path().isEmpty()


def test_polygon_by_clicks_and_double_click(qtbot, viewer):
    tool = RoiTool(viewer)
    tool.start("polygon")
    for xy in [(40, 20), (360, 20), (200, 180)]:
        _mouse(viewer, QEvent.Type.MouseButtonPress, xy)
        _mouse(viewer, QEvent.Type.MouseButtonRelease, xy)
    with qtbot.waitSignal(tool.roi_drawn) as signal:
        _mouse(viewer, QEvent.Type.MouseButtonDblClick, (200, 180))
    points = signal.args[0]
    assert len(points) == 3
    assert points[2] == pytest.approx((0.5, 0.9), abs=0.01)


def test_escape_and_too_small_cancel(qtbot, viewer):
    tool = RoiTool(viewer)
    tool.start("polygon")
    _mouse(viewer, QEvent.Type.MouseButtonPress, (40, 20))
    with qtbot.waitSignal(tool.cancelled):
        qtbot.keyClick(viewer.view, Qt.Key.Key_Escape)
    tool.start("rect")
    with qtbot.waitSignal(tool.cancelled):
        _mouse(viewer, QEvent.Type.MouseButtonPress, (100, 50))
        _mouse(viewer, QEvent.Type.MouseButtonRelease, (101, 50))
    assert tool.item.path().isEmpty()


def test_drawing_needs_an_image(qtbot):
    empty = ImageViewer()
    qtbot.addWidget(empty)
    with pytest.raises(RuntimeError, match="image"):
        RoiTool(empty).start("rect")
