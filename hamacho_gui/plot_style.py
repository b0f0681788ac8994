"""pyqtgraph plots that follow the widget's palette (light and dark themes) and stay still."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QWidget


def plot_background(widget: QWidget, alpha: int = 255) -> QColor:
    color = QColor(widget.palette().color(QPalette.ColorRole.Base))
    color.setAlpha(alpha)
    return color


def plot_foreground(widget: QWidget, alpha: int = 255) -> QColor:
    color = QColor(widget.palette().color(QPalette.ColorRole.Text))
    color.setAlpha(alpha)
    return color


def themed_plot(widget: QWidget, font: QFont, x_label: str, y_label: str) -> pg.PlotWidget:
    """A plot in the widget's colours, without mouse pan/zoom or context menu (lines are the only
    interaction), with light grid and major ticks only."""
    plot = pg.PlotWidget(background=plot_background(widget))
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    item = plot.getPlotItem()
    item.showGrid(x=True, y=True, alpha=0.15)
    fg = plot_foreground(widget)
    size = f"{font.pointSizeF():g}pt"
    for name, text in (("bottom", x_label), ("left", y_label)):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen(plot_foreground(widget, 140)))
        axis.setTextPen(pg.mkPen(fg))
        axis.setStyle(tickFont=font, tickTextOffset=3)
        axis.setLabel(text, **{"font-size": size})
    item.getAxis("left").setWidth(36)
    item.getAxis("left").setStyle(maxTickLevel=0)  # major ticks only: no "1 2 3 ... 15" ladder
    return plot
