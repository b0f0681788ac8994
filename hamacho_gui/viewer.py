"""The technician's view of one inspected image: heatmap overlay, mask outlines, zoom and pan.

Maps and masks come at model resolution and are resized to the image, so everything is drawn in
image pixel coordinates.  Colour maps and outline colours come from :mod:`hamacho_core.visualize` (the
renderer of exported overlays), verdict colours from :data:`hamacho_core.thresholds.VERDICT_COLOURS`.
No file IO here; a 2000x2000 image with a 256x256 map takes ~20 ms.
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QImage, QPainter, QPainterPath, QPen, QPixmap, QPolygonF, QTransform
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from hamacho_core import visualize
from hamacho_core.preprocess import to_rgb8
from hamacho_core.thresholds import VERDICT_COLOURS

COLORMAPS = visualize.COLORMAPS  # name -> OpenCV id; the one table, shared with exported overlays
ZOOM_MIN, ZOOM_MAX = 0.05, 40.0
COLORBAR_WIDTH = 64  # px; keeps the toolbar under 600 px wide, so the viewer sits in a 1280 x 720 window's centre
HALO_ALPHA = 110  # the outlines' rim: dark under light colours, light under dark ones
_NEXT_KEYS = {Qt.Key.Key_Right, Qt.Key.Key_Down, Qt.Key.Key_PageDown, Qt.Key.Key_N}
_PREV_KEYS = {Qt.Key.Key_Left, Qt.Key.Key_Up, Qt.Key.Key_PageUp, Qt.Key.Key_P}


def _pixmap(array: np.ndarray, fmt: QImage.Format) -> QPixmap:
    """A QPixmap from a contiguous HxWx3 uint8 array (QPixmap.fromImage copies the pixels)."""
    h, w = array.shape[:2]
    return QPixmap.fromImage(QImage(array.data, w, h, array.strides[0], fmt))


def _fit_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """A mask (any size, non-zero = defect) as uint8 0/1 at ``width`` x ``height``, smoothly upscaled."""
    mask = np.asarray(mask)
    mask = (mask.max(axis=2) if mask.ndim == 3 else mask) > 0
    if mask.shape == (height, width):
        return mask.astype(np.uint8)
    grown = mask.shape[0] < height or mask.shape[1] < width
    resized = cv2.resize(mask.astype(np.uint8) * 255, (width, height),
                         interpolation=cv2.INTER_LINEAR if grown else cv2.INTER_AREA)
    return (resized > (127 if grown else 0)).astype(np.uint8)  # shrinking keeps thin defects visible


def _outline(mask: np.ndarray, width: int, height: int) -> tuple[QPainterPath, int]:
    """The external contours of a mask at image size as a path on pixel centres, and their count."""
    contours, _ = cv2.findContours(_fit_mask(mask, width, height), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    path = QPainterPath()
    for contour in contours:
        points = (contour[:, 0, :] + 0.5).tolist()
        path.addPolygon(QPolygonF([QPointF(x, y) for x, y in points + points[:1]]))
        path.closeSubpath()
    return path, len(contours)


def _qcolor(rgb: tuple[int, int, int], alpha: int = 255) -> QColor:
    return QColor(*rgb, alpha)


def _swatch(color: QColor) -> QIcon:
    pix = QPixmap(14, 14)
    pix.fill(Qt.GlobalColor.transparent)
    with QPainter(pix) as p:
        p.setPen(QPen(color, 3))
        p.drawRect(2, 2, 10, 10)
    return QIcon(pix)


class _View(QGraphicsView):
    """Wheel zoom under the mouse, drag to pan, keys for zoom and navigation (forwarded to the viewer)."""

    def __init__(self, viewer: ImageViewer):
        super().__init__(viewer)
        self._viewer = viewer
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)  # keys; wheel: under mouse
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setBackgroundBrush(QBrush(QColor(40, 40, 44)))
        self.setFrameShape(QGraphicsView.Shape.NoFrame)

    def wheelEvent(self, event) -> None:
        steps, old = event.angleDelta().y() / 120.0, self._viewer.zoom
        if steps:  # keep the scene point under the mouse in place
            pos = event.position().toPoint()
            under, centre = self.mapToScene(pos), self.mapToScene(self.viewport().rect().center())
            self._viewer.zoom_by(1.25 ** steps)
            self.centerOn(under + (centre - under) * (old / self._viewer.zoom))
        event.accept()

    def keyPressEvent(self, event) -> None:
        key, v = event.key(), self._viewer
        if key in _NEXT_KEYS:
            v.next_requested.emit()
        elif key in _PREV_KEYS:
            v.previous_requested.emit()
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            v.zoom_by(1.25)
        elif key in (Qt.Key.Key_Minus, Qt.Key.Key_Underscore):
            v.zoom_by(0.8)
        elif key == Qt.Key.Key_0:
            v.zoom_to_fit()
        else:
            super().keyPressEvent(event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._viewer._fit_mode:
            self._viewer.zoom_to_fit()


class ImageViewer(QWidget):
    """One inspected image with its anomaly heatmap and predicted / ground-truth mask outlines."""

    next_requested = Signal()
    previous_requested = Signal()
    outline_colours_changed = Signal(object)  # visualize.OutlineColours, when the colour map changes

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._size: tuple[int, int] | None = None  # image (width, height)
        self._grey: np.ndarray | None = None  # heatmap as uint8 at image size
        self._colormap, self._fit_mode = visualize.DEFAULT_COLORMAP, True
        self._counts = {"pred": 0, "gt": 0}

        self.title_label = QLabel(styleSheet="font-size: 15px; font-weight: bold;")
        self.title_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # long paths
        self.verdict_label = QLabel(visible=False)
        header = QHBoxLayout()
        header.addWidget(self.verdict_label)
        header.addWidget(self.title_label, 1)

        self.opacity_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=50,
                                      minimumWidth=64, maximumWidth=110, toolTip="Heatmap opacity",
                                      accessibleName="Heatmap opacity")
        self.opacity_slider.valueChanged.connect(lambda v: self.set_opacity(v / 100.0))
        self.colormap_combo = QComboBox(toolTip="Heatmap colour map")
        self.colormap_combo.addItems(list(COLORMAPS))
        self.colormap_combo.currentTextChanged.connect(self.set_colormap)
        self._colorbar = QLabel(toolTip="Anomaly score: left 0, centre tick = threshold, right = high")
        self.show_heatmap = QCheckBox("Heatmap", checked=True, toolTip="Show the anomaly heatmap")
        self.show_pred = QCheckBox("Predicted", checked=True, toolTip="Show the predicted defect outline")
        self.show_gt = QCheckBox("Ground truth", checked=True, toolTip="Show the ground-truth (annotated) outline")
        fit = QToolButton(text="Fit", toolTip="Zoom to fit (0)")
        fit.clicked.connect(self.zoom_to_fit)
        bar = QHBoxLayout()
        for w in (self.show_heatmap, self.opacity_slider, self.colormap_combo, self._colorbar,
                  self.show_pred, self.show_gt, fit):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keyboard stays with the image for navigation
            bar.addWidget(w)
        bar.insertStretch(bar.count() - 1, 1)

        self._scene = QGraphicsScene(self)
        self.image_item, self.overlay_item = QGraphicsPixmapItem(), QGraphicsPixmapItem()
        self.overlay_item.setOpacity(0.5)
        self.gt_outline_item, self.pred_outline_item = QGraphicsPathItem(), QGraphicsPathItem()
        for item, tip in ((self.gt_outline_item, "Ground truth"), (self.pred_outline_item, "Predicted defect")):
            halo = QGraphicsPathItem(item)  # rim: outlines stay visible over any heatmap or image colour
            halo.setFlag(QGraphicsPathItem.GraphicsItemFlag.ItemStacksBehindParent)
            item.setToolTip(tip)
        self._apply_outline_colours()
        for z, item in enumerate((self.image_item, self.overlay_item, self.gt_outline_item, self.pred_outline_item)):
            item.setZValue(z)
            self._scene.addItem(item)
        for box in (self.show_heatmap, self.show_pred, self.show_gt):
            box.toggled.connect(self._update_visibility)
        self.view = _View(self)
        self.view.setScene(self._scene)
        self.setFocusProxy(self.view)  # focusing the viewer focuses the view (keys work after a click)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(header)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        self._set_verdict("REVIEW")  # the header keeps the badge's height: nothing moves when it appears
        self.title_label.setMinimumHeight(self.verdict_label.sizeHint().height())
        self._update_colorbar()
        self.clear()

    def show_result(self, image: np.ndarray, norm_map: np.ndarray | None, pred_mask: np.ndarray | None,
                    gt_mask: np.ndarray | None = None, title: str = "", verdict: str = "") -> None:
        """Show an image (grey/RGB/RGBA, 8/16-bit) with its map (0..1, 0.5 = threshold) and masks (any size)."""
        rgb, grey = to_rgb8(image), None
        size = (rgb.shape[1], rgb.shape[0])
        if norm_map is not None:
            m = np.squeeze(np.asarray(norm_map, dtype=np.float32))
            if m.ndim != 2:
                raise ValueError(f"norm_map must be 2-D, got shape {np.shape(norm_map)}")
            grey = (np.clip(np.nan_to_num(m), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)  # resize 8-bit: faster
            grey = grey if grey.shape == rgb.shape[:2] else cv2.resize(grey, size, interpolation=cv2.INTER_LINEAR)
        same_size, self._size, self._grey = size == self._size, size, grey
        self.image_item.setPixmap(_pixmap(rgb, QImage.Format.Format_RGB888))
        self._scene.setSceneRect(QRectF(0, 0, *size))
        self._render_overlay()
        self.update_masks(pred_mask)
        self._set_outline("gt", gt_mask)
        self.title_label.setText(title)
        self.title_label.setToolTip(title)
        self._set_verdict(verdict)
        if not same_size or self._fit_mode:
            self.zoom_to_fit()  # same-sized images keep the user's zoom and pan for comparison

    def update_masks(self, pred_mask: np.ndarray | None) -> None:
        """Replace only the predicted outline (cheap; for threshold changes)."""
        self._set_outline("pred", pred_mask)

    def clear(self) -> None:
        """Remove image, heatmap, outlines and texts."""
        self._size, self._grey = None, None
        self.image_item.setPixmap(QPixmap())
        self.overlay_item.setPixmap(QPixmap())
        for kind in ("pred", "gt"):
            self._set_outline(kind, None)
        self.title_label.setText("")
        self._set_verdict("")
        self._scene.setSceneRect(QRectF(0, 0, 1, 1))
        self._update_visibility()

    def set_opacity(self, value: float) -> None:
        """Heatmap opacity, 0..1 (clamped); keeps the slider in step."""
        value = min(max(float(value), 0.0), 1.0)
        self.overlay_item.setOpacity(value)
        self.opacity_slider.blockSignals(True)
        self.opacity_slider.setValue(round(value * 100))
        self.opacity_slider.blockSignals(False)

    def set_colormap(self, name: str) -> None:
        """Heatmap colour map, one of :data:`COLORMAPS`."""
        if name not in COLORMAPS:
            raise ValueError(f"unknown colormap {name!r}; choose from {', '.join(COLORMAPS)}")
        self._colormap = name
        self.colormap_combo.blockSignals(True)
        self.colormap_combo.setCurrentText(name)
        self.colormap_combo.blockSignals(False)
        self._render_overlay()
        self._update_colorbar()
        self._apply_outline_colours()
        self.outline_colours_changed.emit(self.outline_colours)

    def region_pen(self, width: float = 2.0) -> QPen:
        """A cosmetic pen in the current colour map's region-of-interest outline colour."""
        return self._pen(self.outline_colours.region, width)

    def zoom_to_fit(self) -> None:
        """Scale the whole image into the view (within the zoom limits) and centre it."""
        self._fit_mode = True
        if self._size is None:
            return
        vp = self.view.viewport().rect()
        scale = min((vp.width() - 8) / self._size[0], (vp.height() - 8) / self._size[1])
        self.view.setTransform(QTransform.fromScale(*(self._clamp(scale),) * 2))
        self.view.centerOn(self._size[0] / 2, self._size[1] / 2)
        self._update_smoothing()

    def zoom_by(self, factor: float) -> None:
        """Multiply the zoom by ``factor`` (anchored under the mouse for wheel events), within limits."""
        self._fit_mode = False
        new = self._clamp(self.zoom * factor)
        if new != self.zoom:
            self.view.scale(new / self.zoom, new / self.zoom)
        self._update_smoothing()

    opacity = property(lambda self: self.overlay_item.opacity(), doc="Heatmap opacity, 0..1.")
    colormap_name = property(lambda self: self._colormap, doc="Current colour map name.")
    outline_colours = property(lambda self: visualize.outline_colours(self._colormap),
                               doc="The current colour map's visualize.OutlineColours (RGB tuples).")
    zoom = property(lambda self: self.view.transform().m11(), doc="Current scale (screen px per image px).")
    has_overlay = property(lambda self: self._grey is not None and self.overlay_item.isVisible(),
                           doc="A heatmap is loaded and shown.")
    pred_outline_count = property(lambda self: self._counts["pred"], doc="Contours in the predicted outline.")
    gt_outline_count = property(lambda self: self._counts["gt"], doc="Contours in the ground-truth outline.")

    @staticmethod
    def _clamp(scale: float) -> float:
        return min(max(scale, ZOOM_MIN), ZOOM_MAX)

    def _render_overlay(self) -> None:
        if self._grey is None:
            self.overlay_item.setPixmap(QPixmap())
        else:
            rgb = visualize.heatmap(self._grey, self._colormap)
            self.overlay_item.setPixmap(_pixmap(rgb, QImage.Format.Format_RGB888))
        self._update_visibility()

    def _set_outline(self, kind: str, mask: np.ndarray | None) -> None:
        item = self.pred_outline_item if kind == "pred" else self.gt_outline_item
        path, count = QPainterPath(), 0
        if mask is not None and self._size is not None:
            path, count = _outline(mask, *self._size)
        item.setPath(path)
        item.childItems()[0].setPath(path)
        self._counts[kind] = count

    @staticmethod
    def _pen(rgb: tuple[int, int, int], width: float, alpha: int = 255) -> QPen:
        pen = QPen(_qcolor(rgb, alpha), width)
        pen.setCosmetic(True)  # constant on-screen width at any zoom
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        return pen

    def _apply_outline_colours(self) -> None:
        """Outline pens, halos and legend swatches in the current colour map's outline colours."""
        colours = self.outline_colours
        for item, box, rgb, width in ((self.pred_outline_item, self.show_pred, colours.predicted, 2.0),
                                      (self.gt_outline_item, self.show_gt, colours.truth, 3.0)):
            item.setPen(self._pen(rgb, width))
            item.childItems()[0].setPen(self._pen(visualize.halo_colour(rgb), width + 2, HALO_ALPHA))
            box.setIcon(_swatch(_qcolor(rgb)))

    def set_verdict(self, verdict: str) -> None:
        """The badge above the image: OK / NG / REVIEW in their colours ("" hides it)."""
        self._set_verdict(verdict)

    def _set_verdict(self, verdict: str) -> None:
        key = verdict.split()[0].upper() if verdict.strip() else ""
        color = VERDICT_COLOURS.get(key, VERDICT_COLOURS[""])
        self.verdict_label.setText(verdict)
        self.verdict_label.setStyleSheet(f"background: {color}; color: white; font-size: 20px; font-weight: bold;"
                                         "padding: 2px 12px; border-radius: 4px;")
        self.verdict_label.setVisible(bool(verdict.strip()))

    def _update_visibility(self) -> None:
        self.overlay_item.setVisible(self.show_heatmap.isChecked() and self._grey is not None)
        self.pred_outline_item.setVisible(self.show_pred.isChecked())
        self.gt_outline_item.setVisible(self.show_gt.isChecked())

    def _update_smoothing(self) -> None:
        modes = Qt.TransformationMode  # zoomed in: show crisp pixels
        for item in (self.image_item, self.overlay_item):
            item.setTransformationMode(modes.SmoothTransformation if self.zoom < 1.0 else modes.FastTransformation)

    def _update_colorbar(self) -> None:
        ramp = np.repeat(np.linspace(0, 255, COLORBAR_WIDTH).astype(np.uint8)[None, :], 12, axis=0)
        rgb = np.ascontiguousarray(visualize.heatmap(ramp, self._colormap))
        rgb[:, COLORBAR_WIDTH // 2 - 1:COLORBAR_WIDTH // 2 + 1] = 255  # threshold tick (0.5)
        self._colorbar.setPixmap(_pixmap(rgb, QImage.Format.Format_RGB888))
