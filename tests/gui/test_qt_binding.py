"""Guards against a Qt binding that corrupts the interpreter (PySide6 6.12.0 under Python 3.11 drops a
reference to None on every void call, and a long session then aborts)."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QLabel


def test_void_qt_calls_keep_none_refcount(qtbot):
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(2000):
        label.setText("x")
        label.update()
    assert abs(sys.getrefcount(None) - before) < 100
