"""The inspection log (every live verdict, SQLite): view, filter by verdict, export to CSV."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from hamacho_core.live import InspectionLog

COLUMNS = ("Time", "Source", "Model", "Score", "Normalised", "Verdict", "Saved image")
MAX_ROWS = 2000


class LogDialog(QDialog):
    """Newest verdicts first (up to 2000 shown); the CSV export holds every row."""

    def __init__(self, log: InspectionLog, parent=None):
        super().__init__(parent)
        self.log = log
        self.setWindowTitle(f"Inspection log - {log.path}")
        self.resize(900, 520)
        self.verdict = QComboBox()
        for text in ("All", "NG", "REVIEW", "OK"):
            self.verdict.addItem(text, "" if text == "All" else text)
        self.verdict.currentIndexChanged.connect(self.refresh)
        self.summary = QLabel()
        self.export_button = QPushButton("Export CSV...")
        self.export_button.clicked.connect(self._choose_export)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        top = QHBoxLayout()
        top.addWidget(QLabel("Show:"))
        top.addWidget(self.verdict)
        top.addWidget(self.summary, 1)
        top.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table)
        self.finished.connect(lambda _code: self.log.close())
        self.refresh()

    def refresh(self) -> None:
        verdict = self.verdict.currentData() or None
        rows = self.log.rows(limit=MAX_ROWS, verdict=verdict)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            when = dt.datetime.fromtimestamp(row["timestamp"]).strftime("%Y-%m-%d %H:%M:%S")
            values = (when, row["source"], row["model"], f"{row['score']:.4g}", f"{row['normalized']:.3f}",
                      row["verdict"], row.get("image_path") or "")
            for c, value in enumerate(values):
                self.table.setItem(r, c, QTableWidgetItem(str(value)))
        total = self.log.count(verdict)
        self.summary.setText(f"{total} entries" + (f" (newest {len(rows)} shown)" if total > len(rows) else ""))

    def export(self, path: Path) -> int:
        return self.log.export_csv(path)

    def _choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export inspection log", "inspection_log.csv", "CSV (*.csv)")
        if path:
            written = self.export(Path(path))
            self.summary.setText(f"Exported {written} rows to {path}")
