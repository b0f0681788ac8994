"""The list of inspected images: score, verdict and truth; sortable, filterable by verdict."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from hamacho_gui.verdicts import NG, OK, REVIEW

_VERDICT_COLOURS = {OK: QColor("#1b8a3a"), NG: QColor("#c62828"), REVIEW: QColor("#e07b00")}
_TRUTH = {1: "defective", 0: "good", -1: ""}


@dataclass
class ResultItem:
    """One inspected image; the raw map is kept so thresholds can change without re-running the model."""

    path: Path
    raw_score: float
    anomaly_map: np.ndarray  # raw, model input size
    label: int = -1  # 1 defective, 0 good, -1 unknown
    mask_path: Path | None = None


class ResultsModel(QAbstractTableModel):
    COLUMNS = ("#", "Image", "Score", "Normalised", "Verdict", "Truth")
    SORT_ROLE = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent=None):
        super().__init__(parent)
        self.items: list[ResultItem] = []
        self.verdicts = np.array([], dtype=object)
        self.normalised = np.array([], dtype=np.float32)

    def set_items(self, items: list[ResultItem], verdicts: np.ndarray, normalised: np.ndarray) -> None:
        self.beginResetModel()
        self.items, self.verdicts, self.normalised = list(items), verdicts, normalised
        self.endResetModel()

    def set_verdicts(self, verdicts: np.ndarray, normalised: np.ndarray) -> None:
        self.verdicts, self.normalised = verdicts, normalised
        if self.items:
            self.dataChanged.emit(self.index(0, 3), self.index(len(self.items) - 1, 4))

    def rowCount(self, parent=None) -> int:  # noqa: N802 - Qt API
        return 0 if parent is not None and parent.isValid() else len(self.items)

    def columnCount(self, parent=None) -> int:  # noqa: N802
        return len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        item = self.items[row]
        values = (row + 1, item.path.name, item.raw_score, float(self.normalised[row]), str(self.verdicts[row]),
                  _TRUTH.get(item.label, ""))
        if role == self.SORT_ROLE:
            return values[col]
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 2:
                return f"{item.raw_score:.4g}"
            if col == 3:
                return f"{values[3]:.3f}"
            return values[col]
        if role == Qt.ItemDataRole.ForegroundRole and col == 4:
            return QBrush(_VERDICT_COLOURS.get(values[4], QColor("black")))
        if role == Qt.ItemDataRole.ToolTipRole:
            return str(item.path)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (0, 2, 3):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class _VerdictFilter(QSortFilterProxyModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.verdict = ""
        self.setSortRole(ResultsModel.SORT_ROLE)

    def set_verdict(self, verdict: str) -> None:
        self.beginFilterChange()
        self.verdict = verdict
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def refilter(self) -> None:
        """Verdicts changed under an active filter."""
        self.beginFilterChange()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:  # noqa: N802
        if not self.verdict:
            return True
        return str(self.sourceModel().verdicts[row]) == self.verdict


class ResultsPanel(QWidget):
    """Table of results; emits ``item_selected(row in the unfiltered list)``."""

    item_selected = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = ResultsModel(self)
        self.proxy = _VerdictFilter(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for col in (0, 2, 3, 4, 5):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)
        self.filter = QComboBox()
        self.filter.addItem("All", "")
        for verdict in (NG, REVIEW, OK):
            self.filter.addItem(verdict, verdict)
        self.filter.currentIndexChanged.connect(lambda _i: self.proxy.set_verdict(self.filter.currentData()))
        self.counts = QLabel("No results yet")
        top = QHBoxLayout()
        top.addWidget(QLabel("Show:"))
        top.addWidget(self.filter)
        top.addStretch(1)
        top.addWidget(self.counts)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.table)

    def set_items(self, items: list[ResultItem], verdicts: np.ndarray, normalised: np.ndarray) -> None:
        self.model.set_items(items, verdicts, normalised)
        self._update_counts()
        if items:
            self.table.sortByColumn(2, Qt.SortOrder.DescendingOrder)  # most suspicious first
            self.table.selectRow(0)

    def set_verdicts(self, verdicts: np.ndarray, normalised: np.ndarray) -> None:
        self.model.set_verdicts(verdicts, normalised)
        if self.proxy.verdict:
            self.proxy.refilter()
        self._update_counts()

    def set_filter(self, verdict: str) -> None:
        self.filter.setCurrentIndex(max(0, self.filter.findData(verdict)))

    def visible_rows(self) -> list[int]:
        """Rows of the unfiltered list in the current sort and filter order."""
        return [self.proxy.mapToSource(self.proxy.index(r, 0)).row() for r in range(self.proxy.rowCount())]

    def current_row(self) -> int:
        index = self.table.currentIndex()
        return self.proxy.mapToSource(index).row() if index.isValid() else -1

    def select_row(self, row: int) -> None:
        proxy_index = self.proxy.mapFromSource(self.model.index(row, 0))
        if proxy_index.isValid():
            self.table.selectRow(proxy_index.row())

    def step(self, delta: int) -> None:
        """Select the next (+1) or previous (-1) visible result."""
        count = self.proxy.rowCount()
        if not count:
            return
        current = self.table.currentIndex().row()
        self.table.selectRow(min(count - 1, max(0, current + delta)) if current >= 0 else 0)

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.item_selected.emit(self.proxy.mapToSource(current).row())

    def _update_counts(self) -> None:
        v = self.model.verdicts
        if not len(v):
            self.counts.setText("No results yet")
            return
        self.counts.setText(f"{len(v)} images: {int((v == OK).sum())} OK, {int((v == NG).sum())} NG, "
                            f"{int((v == REVIEW).sum())} review")
