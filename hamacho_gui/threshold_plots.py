"""The Thresholds panel's plots: a histogram of raw image scores (good / defective / unknown) with
draggable image and review threshold lines and the review band, and the ROC curve with its
operating point (pyqtgraph)."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QWidget

from hamacho_gui.plot_style import plot_background, plot_foreground, themed_plot

GOOD_COLOR = QColor(46, 160, 67)
DEFECT_COLOR = QColor(215, 48, 39)
UNKNOWN_COLOR = QColor(110, 130, 160)
IMAGE_LINE_COLOR = QColor(200, 30, 30)
REVIEW_LINE_COLOR = QColor(230, 140, 0)


def make_histogram(parent: QWidget, small: QFont):
    """The histogram plot with its (image line, review line, review band), lines draggable."""
    plot = themed_plot(parent, small, "raw image score", "images")
    plot.setMinimumHeight(150)
    image_line = pg.InfiniteLine(
        angle=90, movable=True, pen=pg.mkPen(IMAGE_LINE_COLOR, width=2),
        hoverPen=pg.mkPen(IMAGE_LINE_COLOR, width=4), label="NG ≥ {value:.4g}",
        labelOpts={"position": 0.92, "color": IMAGE_LINE_COLOR, "fill": plot_background(parent, 160)})
    review_line = pg.InfiniteLine(
        angle=90, movable=True, pen=pg.mkPen(REVIEW_LINE_COLOR, width=2, style=Qt.PenStyle.DashLine),
        hoverPen=pg.mkPen(REVIEW_LINE_COLOR, width=4), label="review ≥ {value:.4g}",
        labelOpts={"position": 0.72, "color": REVIEW_LINE_COLOR, "fill": plot_background(parent, 160)})
    for line in (image_line, review_line):
        line.setZValue(10)
        line.label.setFont(small)
        plot.addItem(line)
    review_line.setVisible(False)
    band_colour = QColor(REVIEW_LINE_COLOR)
    band_colour.setAlpha(40)
    band = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(band_colour), pen=pg.mkPen(None))
    band.setZValue(-10)
    band.setVisible(False)
    plot.addItem(band)
    return plot, image_line, review_line, band


def make_roc(parent: QWidget, small: QFont):
    """The ROC plot with its (curve, operating-point marker)."""
    plot = themed_plot(parent, small, "false-positive rate", "true-positive rate")
    plot.setMinimumHeight(150)
    plot.setXRange(0.0, 1.0, padding=0.04)
    plot.setYRange(0.0, 1.0, padding=0.04)
    diagonal = pg.PlotDataItem([0.0, 1.0], [0.0, 1.0], pen=pg.mkPen(plot_foreground(parent, 90), width=1,
                                                                      style=Qt.PenStyle.DashLine))
    curve = pg.PlotDataItem(pen=pg.mkPen(QColor(40, 110, 200), width=2))
    marker = pg.ScatterPlotItem(size=11, pen=pg.mkPen(plot_foreground(parent, 255), width=1),
                                brush=pg.mkBrush(IMAGE_LINE_COLOR))
    marker.setZValue(10)
    for item in (diagonal, curve, marker):
        plot.addItem(item)
    return plot, curve, marker


def draw_histogram(plot, old_items: list, scores: np.ndarray, labels: np.ndarray,
                   value_range: tuple[float, float]) -> list:
    """Redraw the per-class step histograms over ``value_range``; returns the new plot items."""
    for item in old_items:
        plot.removeItem(item)
    items = []
    lo, hi = value_range
    finite = np.isfinite(scores)
    n_bins = int(np.clip(round(2.0 * math.sqrt(max(int(finite.sum()), 1))), 12, 60))
    edges = np.linspace(lo, hi, n_bins + 1)
    top = 1
    for value, color in ((0, GOOD_COLOR), (1, DEFECT_COLOR), (-1, UNKNOWN_COLOR)):
        chosen = scores[finite & (labels == value)]
        if not chosen.size:
            continue
        counts, _ = np.histogram(chosen, edges)
        top = max(top, int(counts.max()))
        used = np.flatnonzero(counts)
        first, last = int(used[0]), int(used[-1]) + 1  # no flat baseline outside the class's scores
        counts, bins = counts[first:last], edges[first:last + 1]
        fill = QColor(color)
        fill.setAlpha(90)
        item = pg.PlotDataItem(bins, counts, stepMode="center", fillLevel=0, fillOutline=True,
                               brush=pg.mkBrush(fill), pen=pg.mkPen(color, width=1.5))
        plot.addItem(item)
        items.append(item)
    plot.setXRange(lo, hi, padding=0.0)
    plot.setYRange(0, top * 1.15, padding=0.0)
    return items


def legend_html(labels: np.ndarray) -> str:
    """Colour key of the histogram, for the classes present (all three before any data)."""
    parts = []
    for value, color, text in ((0, GOOD_COLOR, "good"), (1, DEFECT_COLOR, "defective"), (-1, UNKNOWN_COLOR, "unknown")):
        if not labels.size or (labels == value).any():
            count = f" ({int((labels == value).sum())})" if labels.size else ""
            parts.append(f'<span style="color:{color.name()}">■</span> {text}{count}')
    return "&nbsp;&nbsp;&nbsp;".join(parts)
