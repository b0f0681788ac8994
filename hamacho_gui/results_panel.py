"""The list of judged images: folder, set, score, verdict and truth; sortable, filterable by verdict,
held-out training images marked (or hidden).  Bound to the session's ``results`` and ``thresholds``
events: a threshold move re-labels the rows at once."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from hamacho_core.review import HELD_OUT, TRUTH, ReviewItem
from hamacho_core.session import InspectionSession
from hamacho_core.thresholds import NG, OK, REVIEW, VERDICT_COLOURS
from hamacho_gui.verdicts import ESCAPES, FALSE_ALARMS

_MISTAKE_BACKGROUND = {ESCAPES: QColor("#f8d0d0"), FALSE_ALARMS: QColor("#fde3c0")}
_MISTAKE_TIPS = {ESCAPES: "a known defect that passes as OK at this threshold",
                 FALSE_ALARMS: "a good image rejected as NG at this threshold"}
_VERDICT_COLOURS = {name: QColor(colour) for name, colour in VERDICT_COLOURS.items()}
_SET_TIPS = {HELD_OUT: "a good training image kept out of the fit: it set the thresholds",
             "validation": "a defective image that set the thresholds",
             "test": "a labelled image the model has not seen", "inspected": "an image without a label"}


class ResultsModel(QAbstractTableModel):
    #: what matters first (a narrow dock shows these): the image, its score and verdict, the truth
    COLUMNS = ("#", "Image", "Score", "Verdict", "Truth", "Set", "Folder", "Normalised")
    INDEX, IMAGE, SCORE, VERDICT, TRUTH, SET, FOLDER, NORMALISED = range(8)
    VERDICT_COLUMN, SCORE_COLUMN = VERDICT, SCORE
    SORT_ROLE = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent=None):
        super().__init__(parent)
        self.items: list[ReviewItem] = []
        self._score_format = "{:.4g}"
        self.verdicts = np.array([], dtype=object)
        self.shown_names: list[str] = []
        self.normalised = np.array([], dtype=np.float32)

    def set_items(self, items: list[ReviewItem], verdicts: np.ndarray, normalised: np.ndarray) -> None:
        self.beginResetModel()
        self.items, self.verdicts, self.normalised = list(items), verdicts, normalised
        names = [item.path.name for item in self.items]  # a name found in several folders shows its folder
        repeated = {name for name in names if names.count(name) > 1} if len(set(names)) < len(names) else set()
        self.shown_names = [f"{item.folder}/{name}" if name in repeated else name
                            for item, name in zip(self.items, names, strict=True)]
        finite = [abs(r.raw_score) for r in self.items if np.isfinite(r.raw_score)]
        top = max(finite, default=1.0)  # one number of decimals for the list: 34.20 next to 46.88
        self._score_format = f"{{:.{max(0, 3 - int(np.floor(np.log10(top))) if top > 0 else 3)}f}}"
        self.endResetModel()

    def set_verdicts(self, verdicts: np.ndarray, normalised: np.ndarray) -> None:
        self.verdicts, self.normalised = verdicts, normalised
        if self.items:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.items) - 1, self.NORMALISED))  # + highlights

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
        values = (row + 1, self.shown_names[row], item.raw_score, str(self.verdicts[row]), TRUTH.get(item.label, ""),
                  item.set, item.folder, float(self.normalised[row]))
        if role == self.SORT_ROLE:
            return values[col]
        if role == Qt.ItemDataRole.DisplayRole:
            if col == self.SCORE:
                return self._score_format.format(item.raw_score)
            if col == self.NORMALISED:
                return f"{values[col]:.3f}"
            return values[col]
        if role == Qt.ItemDataRole.ForegroundRole and col == self.VERDICT:
            return QBrush(_VERDICT_COLOURS.get(values[col], QColor("black")))
        if role == Qt.ItemDataRole.ForegroundRole and col == self.SET and item.set == HELD_OUT:
            return QBrush(QColor("#777777"))
        if role == Qt.ItemDataRole.BackgroundRole and self.mistake(row):
            return QBrush(_MISTAKE_BACKGROUND[self.mistake(row)])
        if role == Qt.ItemDataRole.ToolTipRole:
            mistake = self.mistake(row)
            return (f"{item.path}\n{item.set}: {_SET_TIPS.get(item.set, '')}"
                    + (f"\n{mistake.capitalize()}: {_MISTAKE_TIPS[mistake]}" if mistake else ""))
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (self.INDEX, self.SCORE, self.NORMALISED):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


    def mistake(self, row: int) -> str:
        """:data:`ESCAPES` for a defective image judged OK, :data:`FALSE_ALARMS` for a good one judged NG."""
        label, verdict = self.items[row].label, str(self.verdicts[row])
        return ESCAPES if label == 1 and verdict == OK else FALSE_ALARMS if label == 0 and verdict == NG else ""


class _VerdictFilter(QSortFilterProxyModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.verdict = ""
        self.show_held_out = True
        self.setSortRole(ResultsModel.SORT_ROLE)

    def set_verdict(self, verdict: str) -> None:
        self.beginFilterChange()
        self.verdict = verdict
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_show_held_out(self, on: bool) -> None:
        self.beginFilterChange()
        self.show_held_out = bool(on)
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def refilter(self) -> None:
        """Verdicts changed under an active filter."""
        self.beginFilterChange()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:  # noqa: N802
        model = self.sourceModel()
        if not self.show_held_out and model.items[row].set == HELD_OUT:
            return False
        if self.verdict in (ESCAPES, FALSE_ALARMS):
            return model.mistake(row) == self.verdict
        return not self.verdict or str(model.verdicts[row]) == self.verdict


class ResultsPanel(QWidget):
    """Table of results; emits ``item_selected(row in the unfiltered list)``."""

    item_selected = Signal(int)
    score_dataset_requested = Signal()

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
        header.setSectionResizeMode(ResultsModel.IMAGE, QHeaderView.ResizeMode.Interactive)
        # Names elided in the middle (their number stays) so Truth stays in view in a 340 px dock (issue 24, 7);
        # the full path is the row's tool tip, and the column can be widened.
        header.resizeSection(ResultsModel.IMAGE, 105)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header.setStretchLastSection(True)
        for col in (0, 2, 3, 4, 5, 6, 7):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)
        self.filter = QComboBox()
        self.filter.addItem("All", "")
        for verdict in (NG, REVIEW, OK):
            self.filter.addItem(verdict, verdict)
        self.filter.addItem("Escapes (defects judged OK)", ESCAPES)
        self.filter.addItem("False alarms (good judged NG)", FALSE_ALARMS)
        self.filter.setToolTip("Escapes and false alarms are also highlighted in the list (red and orange)")
        self.filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.filter.setMinimumContentsLength(8)  # the long entries show in the open list: the dock stays narrow
        self.filter.currentIndexChanged.connect(self._on_filter_changed)
        self.held_out_check = QCheckBox("Held-out")
        self.held_out_check.setChecked(True)
        self.held_out_check.setToolTip("Show the good training images kept out of the fit (they set the "
                                       "thresholds; marked 'held-out' in the Set column)")
        self.held_out_check.toggled.connect(self._on_held_out_toggled)
        self.score_button = QPushButton("Score dataset")
        self.score_button.setToolTip("Judge the loaded dataset's images with the current model, with their labels")
        self.score_button.setEnabled(False)
        self.score_button.clicked.connect(self.score_dataset_requested)
        self.counts = QLabel("No results yet")
        self.counts.setMinimumWidth(10)
        self.counts.setWordWrap(True)
        self.counts.setMinimumHeight(2 * self.counts.fontMetrics().lineSpacing() + 2)  # room kept: no jumps
        top = QHBoxLayout()
        top.addWidget(QLabel("Show:"))
        top.addWidget(self.filter)
        top.addWidget(self.held_out_check)
        top.addStretch(1)
        top.addWidget(self.score_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.counts)
        layout.addWidget(self.table)
        self.session: InspectionSession | None = None

    # --- session binding --------------------------------------------------------------------------
    def bind(self, session: InspectionSession) -> None:
        self.session = session
        session.events.connect("results", self._on_results)
        session.events.connect("thresholds", self._on_thresholds)
        session.events.connect("model", self._on_model_or_dataset)
        session.events.connect("dataset", self._on_model_or_dataset)

    def _on_results(self, results) -> None:
        v, norm = self.session.judged()
        self.set_items(results, v, norm)

    def _on_thresholds(self, _t) -> None:
        if self.model.items:
            self.set_verdicts(*self.session.judged())

    def _on_model_or_dataset(self, _value) -> None:
        s = self.session
        self.score_button.setEnabled(s.model is not None and s.dataset is not None)

    def set_items(self, items: list[ReviewItem], verdicts: np.ndarray, normalised: np.ndarray) -> None:
        self.model.set_items(items, verdicts, normalised)
        self._update_counts()
        if items:
            self.table.sortByColumn(ResultsModel.SCORE_COLUMN, Qt.SortOrder.DescendingOrder)  # most suspicious first
            self.table.selectRow(0)

    def set_verdicts(self, verdicts: np.ndarray, normalised: np.ndarray) -> None:
        self.model.set_verdicts(verdicts, normalised)
        if self.proxy.verdict:
            self.proxy.refilter()
        self._update_counts()

    def _on_filter_changed(self, _index: int) -> None:
        self.proxy.set_verdict(self.filter.currentData())
        self._update_counts()
        if self.proxy.rowCount() and not self.table.currentIndex().isValid():
            self.table.selectRow(0)  # the image shown is one of those listed

    def set_filter(self, verdict: str) -> None:
        """Show only ``verdict`` (or the escapes / false alarms); the first listed image is shown when the one
        shown before is not listed any more."""
        self.filter.setCurrentIndex(max(0, self.filter.findData(verdict)))

    def _on_held_out_toggled(self, on: bool) -> None:
        self.proxy.set_show_held_out(on)
        self._update_counts()

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
        held = sum(item.set == HELD_OUT for item in self.model.items)
        if not self.proxy.show_held_out:  # the counts are of what is listed
            v = v[[item.set != HELD_OUT for item in self.model.items]]
        text = f"{len(v)} images"
        if held:
            text += (f" (incl. {held} held-out training images)" if self.proxy.show_held_out
                     else f" ({held} held-out training images hidden)")
        text += f": {int((v == OK).sum())} OK, {int((v == NG).sum())} NG, {int((v == REVIEW).sum())} review"
        mistakes = [self.model.mistake(row) for row in range(len(self.model.items))]
        if any(item.label >= 0 for item in self.model.items):
            text += (f"; {mistakes.count(ESCAPES)} known defects pass as OK, {mistakes.count(FALSE_ALARMS)} good "
                     "images rejected")
        if self.proxy.verdict and not self.proxy.rowCount():
            text += f". None listed: no image is {self.filter.currentText().split(' (')[0].lower()} now."
        self.counts.setText(text)
