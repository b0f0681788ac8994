"""Drawing a region of interest (rectangle or polygon) on an :class:`ImageViewer`.

Rectangle: press, drag, release.  Polygon: click each corner, double-click (or Enter) to close.
Escape cancels.  The region is reported in normalised image coordinates (0..1), the form stored
with the model (``ModelConfig.roi``).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsView

from hamacho_gui.viewer import ImageViewer

ROI_COLOR = QColor(255, 214, 0)


class RoiTool(QObject):
    """Draws on the viewer while active; ``roi_drawn(points)`` when done, ``cancelled`` on Escape."""

    roi_drawn = Signal(object)  # tuple of (x, y) in 0..1
    cancelled = Signal()

    def __init__(self, viewer: ImageViewer):
        super().__init__(viewer)
        self.viewer = viewer
        self.kind = ""
        self.points: list[QPointF] = []
        self._drag_start: QPointF | None = None
        self.item = QGraphicsPathItem()
        pen = QPen(ROI_COLOR, 2, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.item.setPen(pen)
        self.item.setZValue(20)
        self.item.setToolTip("Region of interest: only this region is learned and judged")
        viewer.view.scene().addItem(self.item)
        viewer.view.viewport().installEventFilter(self)
        viewer.view.installEventFilter(self)

    @property
    def active(self) -> bool:
        return bool(self.kind)

    def start(self, kind: str) -> None:
        """Begin drawing a ``"rect"`` or ``"polygon"`` (needs an image in the viewer)."""
        if kind not in ("rect", "polygon"):
            raise ValueError("kind must be 'rect' or 'polygon'")
        if self._image_size() is None:
            raise RuntimeError("show an image before drawing a region of interest")
        self.kind, self.points, self._drag_start = kind, [], None
        self.viewer.view.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.viewer.view.setCursor(Qt.CursorShape.CrossCursor)
        self._redraw()

    def show_roi(self, points) -> None:
        """Display a stored region (normalised points) or clear it with None."""
        size = self._image_size()
        if not points or size is None:
            self.item.setPath(QPainterPath())
            return
        w, h = size
        pts = [QPointF(x * w, y * h) for x, y in points]
        if len(pts) == 2:
            a, b = pts
            pts = [a, QPointF(b.x(), a.y()), b, QPointF(a.x(), b.y())]
        path = QPainterPath()
        path.addPolygon(QPolygonF(pts + [pts[0]]))
        self.item.setPath(path)

    # --- events -----------------------------------------------------------------------------------
    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt API
        if not self.active:
            return False
        etype = event.type()
        if etype == QEvent.Type.KeyPress:
            if event.key() == Qt.Key.Key_Escape:
                self._finish(None)
                return True
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.kind == "polygon":
                self._finish(self.points)
                return True
            return False
        if obj is not self.viewer.view.viewport():
            return False
        if etype == QEvent.Type.MouseButtonPress and event.button() == Qt.MouseButton.LeftButton:
            point = self._scene_point(event)
            if self.kind == "rect":
                self._drag_start, self.points = point, [point, point]
            else:
                self.points.append(point)
            self._redraw()
            return True
        if etype == QEvent.Type.MouseMove and self.kind == "rect" and self._drag_start is not None:
            self.points = [self._drag_start, self._scene_point(event)]
            self._redraw()
            return True
        if etype == QEvent.Type.MouseButtonRelease and self.kind == "rect" and self._drag_start is not None:
            self.points = [self._drag_start, self._scene_point(event)]
            self._finish(self.points)
            return True
        if etype == QEvent.Type.MouseButtonDblClick and self.kind == "polygon":
            self._finish(self.points)
            return True
        return False

    def _scene_point(self, event) -> QPointF:
        point = self.viewer.view.mapToScene(event.position().toPoint())
        w, h = self._image_size()
        return QPointF(min(max(point.x(), 0.0), w), min(max(point.y(), 0.0), h))

    def _image_size(self) -> tuple[int, int] | None:
        pixmap = self.viewer.image_item.pixmap()
        return None if pixmap.isNull() else (pixmap.width(), pixmap.height())

    def _redraw(self) -> None:
        path = QPainterPath()
        if self.kind == "rect" and len(self.points) == 2:
            a, b = self.points
            path.addPolygon(QPolygonF([a, QPointF(b.x(), a.y()), b, QPointF(a.x(), b.y()), a]))
        elif self.points:
            path.addPolygon(QPolygonF(self.points))
        self.item.setPath(path)

    def _finish(self, points: list[QPointF] | None) -> None:
        kind, self.kind = self.kind, ""
        self.viewer.view.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.viewer.view.unsetCursor()
        w, h = self._image_size()
        normalised = None
        if points:
            unique = []
            for p in points:  # a double-click also adds its point twice
                if not unique or (abs(p.x() - unique[-1].x()) > 1 or abs(p.y() - unique[-1].y()) > 1):
                    unique.append(p)
            enough = len(unique) == 2 if kind == "rect" else len(unique) >= 3
            if enough:
                normalised = tuple((round(p.x() / w, 5), round(p.y() / h, 5)) for p in unique)
                if kind == "rect":
                    (x0, y0), (x1, y1) = normalised
                    normalised = ((min(x0, x1), min(y0, y1)), (max(x0, x1), max(y0, y1)))
                    if normalised[1][0] - normalised[0][0] < 0.01 or normalised[1][1] - normalised[0][1] < 0.01:
                        normalised = None
        if normalised is None:
            self.show_roi(None)
            self.cancelled.emit()
        else:
            self.show_roi(normalised)
            self.roi_drawn.emit(normalised)
