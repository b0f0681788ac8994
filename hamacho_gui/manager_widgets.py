"""Table helpers, the message line and formatting shared by the model manager's tabs."""

from __future__ import annotations

from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from hamacho_core import backbones, library

ERROR_COLOR = QColor("#c62828")
OK_COLOR = QColor("#1b8a3a")
MUTED_COLOR = QColor("#777777")
STATE_COLORS = {backbones.BUNDLED: OK_COLOR, backbones.IMPORTED: OK_COLOR, backbones.CACHED: OK_COLOR,
                backbones.MISSING: ERROR_COLOR}
STATE_TEXT = {backbones.BUNDLED: "bundled", backbones.IMPORTED: "imported", backbones.CACHED: "in torch cache",
              backbones.MISSING: "missing"}
_ROLE = Qt.ItemDataRole.UserRole
#: Lines the message line always has room for, so that a message appearing moves nothing.
MESSAGE_LINES = 3


def _item(text: str, *, data=None, tooltip: str = "", color: QColor | None = None,
          align_right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    if data is not None:
        item.setData(_ROLE, data)
    if tooltip:
        item.setToolTip(tooltip)
    if color is not None:
        item.setForeground(color)
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _table(columns: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    header.setHighlightSections(False)
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    return table


def _fit_height(table: QTableWidget, max_rows: int) -> None:
    """Tall enough for its rows (up to ``max_rows``, then it scrolls) and a horizontal scroll bar (a
    narrow dock scrolls wide tables sideways)."""
    rows = min(max(table.rowCount(), 1), max_rows)
    height = table.horizontalHeader().sizeHint().height() + rows * table.verticalHeader().defaultSectionSize()
    scroll_bar = table.horizontalScrollBar().sizeHint().height()
    table.setFixedHeight(height + scroll_bar + 2 * table.frameWidth() + 2)


def format_mb(mb: float | None) -> str:
    if mb is None:
        return ""
    if mb >= 1024:
        return f"{mb / 1024:.2f} GB"
    if mb >= 10:
        return f"{mb:.0f} MB"
    return f"{mb:.1f} MB" if mb >= 0.1 else f"{mb * 1024:.0f} KB"


def format_created(entry: library.ModelEntry) -> str:
    created = entry.created
    if created is None:
        return ""
    if created.tzinfo is not None:
        created = created.astimezone()
    return created.strftime("%Y-%m-%d %H:%M")


def format_thresholds(entry: library.ModelEntry) -> str:
    """``image / pixel`` raw thresholds, 4 significant digits ("?" where unknown)."""
    t = entry.thresholds
    return " / ".join("?" if t.get(level) is None else f"{t[level]:.4g}" for level in ("image", "pixel"))


class _MessageLine(QLabel):
    """Feedback under a tab's buttons: errors in red, successes in green, hints and busy states in grey.

    Its height is fixed (:data:`MESSAGE_LINES` lines, empty or not), so nothing moves when a message
    appears; a message longer than that is shortened with "\u2026" (the whole text in the tool tip and
    :attr:`full_text`).  A busy text ("Checking weights\u2026") is replaced by the job's result, or by
    the message shown before it (:meth:`restore`).
    """

    def __init__(self):
        super().__init__()
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        margins = self.contentsMargins()
        self.setFixedHeight(MESSAGE_LINES * self.fontMetrics().lineSpacing() + margins.top() + margins.bottom())
        self.full_text = ""
        self.is_error = False
        self.is_busy = False
        self._before_busy: tuple[str, bool, bool] = ("", False, False)
        self._state: tuple[str, bool, bool] = ("", False, False)

    def show_message(self, text: str, *, error: bool = False, ok: bool = False) -> None:
        self.is_error, self.is_busy = bool(error), False
        self._state = (text, bool(error), bool(ok))
        color = ERROR_COLOR if error else OK_COLOR if ok else MUTED_COLOR
        self.setStyleSheet(f"color: {color.name()};")
        font = self.font()
        font.setBold(bool(error))
        self.setFont(font)
        self.full_text = text
        self._fit()

    def show_busy(self, text: str) -> None:
        if not self.is_busy:
            self._before_busy = self._state
        self.show_message(text)
        self.is_busy = True

    def restore(self) -> None:
        """Back to the message shown before the busy text (nothing when not busy)."""
        if self.is_busy:
            text, error, ok = self._before_busy
            self.show_message(text, error=error, ok=ok)

    def _fits(self, text: str) -> bool:
        box = self.contentsRect()
        needed = self.fontMetrics().boundingRect(QRect(0, 0, box.width(), 1 << 20),
                                                 int(Qt.TextFlag.TextWordWrap), text)
        return needed.height() <= box.height()

    def _fit(self) -> None:
        """Show the whole message, or the longest start of it that fits (shown widgets only: a hidden
        one's width is not known yet)."""
        text = self.full_text
        if self.isVisible() and not self._fits(text):
            low, high = 0, len(text)
            while low < high:  # longest prefix that fits with the ellipsis
                mid = (low + high + 1) // 2
                if self._fits(text[:mid].rstrip() + "\u2026"):
                    low = mid
                else:
                    high = mid - 1
            self.setToolTip(text)
            super().setText(text[:low].rstrip() + "\u2026")
            return
        self.setToolTip("")
        super().setText(text)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self._fit()


def _scrolling(content: QWidget) -> QScrollArea:
    """``content`` in a frameless scroll area as wide as the dock: when the dock is short it scrolls
    instead of squeezing (and clipping) its widgets."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(content)
    return area


def _wrapped_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _if_alive(widget: QWidget, fn: Callable) -> Callable:
    """``fn`` that does nothing once ``widget`` is deleted (a job's callback may outlive its tab)."""
    def call(*args):
        if shiboken6.isValid(widget):
            fn(*args)
    return call


def start_file_work(page: QWidget, workers, name: str, job, on_done: Callable, on_failed: Callable, message,
                    busy_text: str, update_buttons: Callable) -> None:
    """Run ``job`` on the files lane for a Models page: ``page._jobs`` counts it, ``message`` shows
    ``busy_text`` and ``update_buttons`` runs before and after; callbacks are dropped once the page is gone."""
    page._jobs += 1
    message.show_busy(busy_text)
    update_buttons()

    def finish(callback):
        def call(value):
            page._jobs -= 1
            callback(value)
            update_buttons()
        return _if_alive(page, call)

    workers.files.start(name, job, finish(on_done), finish(on_failed))


def button(text: str, slot: Callable, tip: str = "") -> QPushButton:
    """A push button wired to ``slot`` (with an optional tool tip)."""
    b = QPushButton(text)
    if tip:
        b.setToolTip(tip)
    b.clicked.connect(slot)
    return b
