"""The main window's layout: restored from and saved to the settings, kept on the screen, reset on request."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSize, Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QScrollArea, QTabWidget

#: What the image in the middle keeps at least when the side panels are sized (its toolbar's width).
CENTRAL_WIDTH = 620


#: The widest the side panels ask to be (the user may drag them wider), and the thresholds panel's least width.
SIDE_HINT, SIDE_MINIMUM = 360, 280


class SideTabs(QTabWidget):
    """The left side's tabs: switching to the Train tab (whose settings would like ~440 px, more after a training
    wrote its status) widened the left dock and pushed the thresholds panel off a 1280 px screen; their size hint
    is capped, so the docks keep the width the layout (or the user) gave them."""

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        hint = super().sizeHint()
        return QSize(min(hint.width(), SIDE_HINT), hint.height())


class SideScroll(QScrollArea):
    """A side panel in a scroll area (on a small screen it scrolls instead of clipping) whose size hint is
    capped like :class:`SideTabs`' (the thresholds panel asked for 648 px and was squeezed to 229 at 1280)."""

    def __init__(self, widget, parent=None):
        super().__init__(parent)
        self.setWidget(widget)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        hint = super().sizeHint()
        return QSize(min(hint.width(), SIDE_HINT), hint.height())


def restore(window) -> None:
    """Line outputs, camera settings, window geometry and dock layout as the last session left them."""
    settings, live = window.settings, window.live_panel
    live.line_box.restore(settings)
    live.camera_box.restore(settings)
    live.line_button.setChecked(live.line_box.settings().used)  # shown when set
    geometry, state = settings.value("geometry"), settings.value("window_state")
    if isinstance(geometry, QByteArray):
        window.restoreGeometry(geometry)
    if isinstance(state, QByteArray):
        window.restoreState(state)
    else:  # first start: sizes apply once the window is laid out
        QTimer.singleShot(0, lambda: default_dock_sizes(window))


def save(window) -> None:
    settings = window.settings
    settings.setValue("geometry", window.saveGeometry())
    settings.setValue("window_state", window.saveState())
    window.live_panel.line_box.save(settings)
    window.live_panel.camera_box.save(settings)
    settings.sync()


def fit_to_screen(window) -> None:
    """Never taller or wider than the screen's free area (a 1280x720 panel PC with a task bar hid the
    status bar and its guidance until the window was maximised)."""
    screen = window.screen()
    if screen is None:
        return
    free = screen.availableGeometry()
    # Where the screen has room (1280 px and more), the thresholds panel is never squeezed below its own width
    # plus a scroll bar (Qt gave it 229 px after a training at 1280); on a 1024 px screen it may be.
    window.default_docks[2].widget().setMinimumWidth(SIDE_MINIMUM if free.width() >= 1280 else 0)
    frame = window.frameGeometry().size() - window.geometry().size()  # title bar and borders, once shown
    width = min(window.width(), free.width() - frame.width())
    height = min(window.height(), free.height() - max(frame.height(), 0))
    window.resize(max(width, 1), max(height, 1))
    if not free.contains(window.frameGeometry().topLeft()):
        window.move(free.topLeft())


def default_dock_sizes(window) -> None:
    """Side panels of about a quarter of the width each (at 1280x720 the thresholds panel was squeezed to
    120 px and clipped); the training settings get the taller share of the left side."""
    data_dock, results_dock, thresholds_dock = window.default_docks
    width = window.width()
    left = max(300, min(440, int(width * 0.28)))  # the results list: image, score, verdict and truth in view
    right = max(280, min(420, width - left - CENTRAL_WIDTH))
    window.resizeDocks([data_dock, thresholds_dock], [left, right], Qt.Orientation.Horizontal)
    height = window.height()
    window.resizeDocks([data_dock, results_dock], [int(height * 0.6), int(height * 0.4)], Qt.Orientation.Vertical)


def reset(window) -> None:
    """View > Reset layout: every dock back in the window where a first start puts it, at sizes that fit the
    screen (a panel squeezed at 1280x720 does not follow to a bigger screen)."""
    for dock in window.findChildren(QDockWidget):
        dock.setFloating(False)
        dock.show()
    window.restoreState(window.initial_state)
    fit_to_screen(window)
    QTimer.singleShot(0, lambda: default_dock_sizes(window))
