"""Table helpers and formatting shared by the model manager's tabs."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QSizePolicy, QTableWidget, QTableWidgetItem

from hamacho_core import backbones, library

ERROR_COLOR = QColor("#c62828")
OK_COLOR = QColor("#1b8a3a")
MUTED_COLOR = QColor("#777777")
STATE_COLORS = {backbones.BUNDLED: OK_COLOR, backbones.IMPORTED: OK_COLOR, backbones.CACHED: OK_COLOR,
                backbones.MISSING: ERROR_COLOR}
STATE_TEXT = {backbones.BUNDLED: "bundled", backbones.IMPORTED: "imported", backbones.CACHED: "in torch cache",
              backbones.MISSING: "missing"}
_ROLE = Qt.ItemDataRole.UserRole
DEFAULT_IMAGE_SIZE = 256
DEFAULT_CORESET_RATIO = 0.1


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
    """Tall enough for its rows (up to ``max_rows``, then it scrolls), no empty space below."""
    rows = min(max(table.rowCount(), 1), max_rows)
    height = table.horizontalHeader().sizeHint().height() + rows * table.verticalHeader().defaultSectionSize()
    table.setFixedHeight(height + 2 * table.frameWidth() + 2)


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
    """One line of feedback: errors in red, successes in green, hints in grey."""

    def __init__(self):
        super().__init__()
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.is_error = False

    def show_message(self, text: str, *, error: bool = False, ok: bool = False) -> None:
        self.is_error = bool(error)
        color = ERROR_COLOR if error else OK_COLOR if ok else MUTED_COLOR
        self.setStyleSheet(f"color: {color.name()};" + (" font-weight: bold;" if error else ""))
        self.setText(text)
