"""visualize: the one renderer -- colour maps, outline colours that contrast with them, exported overlays.

Measured (CIELAB via OpenCV, minimum distance to the 256 colours of each map): the chosen outline colours
are >= 47.4 from every colour of their map (jet's region outline, white; all others >= 55.8) and >= 58.0
from each other; the old fixed colours were 0-33 from jet, inferno and hot (red (255, 40, 40): 10.2 /
24.8 / 10.2, yellow (255, 214, 0): 1.2 / 13.0 / 0.6, the export's (255, 0, 0) / (255, 255, 0): <= 32.9).
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from hamacho_core import visualize
from hamacho_core.visualize import COLORMAPS, DEFAULT_COLORMAP, outline_colours, render_overlay

MIN_CONTRAST = 40.0  # LAB distance every outline colour keeps from every colour of its map
OLD_COLOURS = {"viewer red": (255, 40, 40), "export red": (255, 0, 0), "viewer yellow": (255, 214, 0),
               "export yellow": (255, 255, 0)}
YELLOW = (255, 255, 0)


def _lab(rgb) -> np.ndarray:
    """Independent of visualize: OpenCV's float RGB -> CIELAB."""
    return cv2.cvtColor(np.asarray(rgb, np.float32).reshape(-1, 1, 3) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3)


def _lut(name: str) -> np.ndarray:
    """The map's 256 colours (RGB), straight from OpenCV."""
    bgr = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], COLORMAPS[name])
    return bgr[:, 0, ::-1]


def _contrast(colour, name: str) -> float:
    return float(np.linalg.norm(_lab(_lut(name)) - _lab(colour), axis=1).min())


def test_colormaps_table_and_heatmap_match_opencv():
    assert list(COLORMAPS) == ["jet", "inferno", "viridis", "turbo", "magma", "hot"] and DEFAULT_COLORMAP == "jet"
    ramp = np.linspace(0.0, 1.0, 256)[None, :]
    for name in COLORMAPS:
        assert np.array_equal(visualize.heatmap(ramp, name)[0], _lut(name))
        grey = (ramp * 255 + 0.5).astype(np.uint8)
        assert np.array_equal(visualize.heatmap(grey, name), visualize.heatmap(ramp, name))  # uint8 grey levels
    odd = np.array([[np.nan, -3.0, 7.0]], np.float32)
    assert np.array_equal(visualize.heatmap(odd, "hot")[0], _lut("hot")[[0, 0, 255]])
    with pytest.raises(ValueError, match="unknown colormap"):
        visualize.heatmap(ramp, "rainbow")


def test_outline_colours_contrast_with_every_colormap_colour():
    for name in ("jet", "inferno", "hot"):  # the bound is one the old fixed colours fail
        for label, old in OLD_COLOURS.items():
            assert _contrast(old, name) < MIN_CONTRAST, f"{label} on {name}"
    for name in COLORMAPS:
        colours = outline_colours(name)
        roles = (colours.predicted, colours.truth, colours.region)
        for role, colour in zip(("predicted", "truth", "region"), roles, strict=True):
            assert len(colour) == 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in colour)
            assert _contrast(colour, name) >= MIN_CONTRAST, f"{role} {colour} on {name}: {_contrast(colour, name):.1f}"
        for a, b in itertools.combinations(roles, 2):  # distinct roles, told apart at a glance
            assert np.linalg.norm(_lab(a) - _lab(b)) >= MIN_CONTRAST, (name, a, b)
    assert outline_colours("hot").predicted != outline_colours("viridis").predicted  # it does depend on the map
    outline_colours.cache_clear()
    again = {name: outline_colours(name) for name in COLORMAPS}  # deterministic
    outline_colours.cache_clear()
    assert again == {name: outline_colours(name) for name in COLORMAPS}
    with pytest.raises(AttributeError):
        again["jet"].predicted = (1, 2, 3)  # frozen


def _scene(size=(120, 160)):
    """Mid-grey image, a map high (1.0) in a square and 0 elsewhere, the square as the predicted mask."""
    h, w = size
    rgb = np.full((h, w, 3), 128, np.uint8)
    norm = np.zeros((h, w), np.float32)
    norm[40:80, 60:100] = 1.0
    return rgb, norm, norm >= 0.5


def test_render_overlay_uses_the_colormap_where_the_map_is_high():
    rgb, norm, _ = _scene()
    high = {}
    for name in COLORMAPS:
        out = render_overlay(rgb, norm, None, colormap=name, alpha=0.5)
        assert out.dtype == np.uint8 and out.shape == rgb.shape
        expected = ((128 + _lut(name)[255].astype(int)) / 2).round()
        assert np.abs(out[60, 80].astype(int) - expected).max() <= 1  # 50 % of the map's top colour
        assert np.abs(out[10, 10].astype(int) - ((128 + _lut(name)[0].astype(int)) / 2).round()).max() <= 1
        high[name] = tuple(out[60, 80])
    assert len(set(high.values())) == len(COLORMAPS)
    assert np.array_equal(render_overlay(rgb, norm, None, alpha=0.0), rgb)
    assert np.array_equal(render_overlay(rgb, None, None), rgb) and render_overlay(rgb, None, None) is not rgb
    jet = render_overlay(rgb, norm, None)
    assert np.array_equal(jet, visualize.overlay(rgb, norm))  # the old call gives the same picture
    assert np.array_equal(jet, visualize.overlay(rgb, norm, 0.5, cv2.COLORMAP_JET))  # OpenCV ids still work


def test_outlines_are_drawn_on_the_mask_edge_over_a_halo():
    rgb, norm, mask = _scene()
    for name in COLORMAPS:
        colours = outline_colours(name)
        base = render_overlay(rgb, norm, None, colormap=name)
        out = render_overlay(rgb, norm, mask, colormap=name, thickness=1)
        edge = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        assert np.all(out[edge] == colours.predicted)  # every edge pixel, 1 px wide
        halo = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~mask
        assert np.all(out[halo] == visualize.halo_colour(colours.predicted))
        untouched = ~cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        untouched |= cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        assert np.array_equal(out[untouched], base[untouched])  # inside and far outside: the overlay only
    truth = np.zeros_like(mask)
    truth[10:30, 10:30] = True
    out = render_overlay(rgb, norm, mask, truth=truth, colormap="hot", thickness=1)
    assert tuple(out[10, 20]) == outline_colours("hot").truth and tuple(out[40, 80]) == outline_colours("hot").predicted
    assert tuple(out[20, 20]) == tuple(render_overlay(rgb, norm, None, colormap="hot")[20, 20])


def test_default_thickness_scales_with_the_image():
    h, w = 1200, 2000  # max(h, w) / 400 = 5 px
    rgb = np.full((h, w, 3), 128, np.uint8)
    mask = np.zeros((h, w), bool)
    mask[400:800, 600:1400] = True
    colour = outline_colours("jet").predicted
    out = render_overlay(rgb, None, mask)
    assert np.array_equal(out, render_overlay(rgb, None, mask, thickness=5))
    drawn = np.flatnonzero(np.all(out[600] == colour, axis=1))  # OpenCV's thickness 5: 7 px, centred
    assert list(drawn) == [*range(597, 604), *range(1396, 1403)]
    rim = visualize.halo_colour(colour)
    assert tuple(out[600, 596]) == tuple(out[600, 604]) == rim and tuple(out[600, 595]) == (128, 128, 128)
    small = render_overlay(rgb[:100, :100], None, mask[:100, :100] | True)  # 1 px for small images
    assert np.all(small[50, 0] == colour) and not np.all(small[50, 1] == colour)


def _region_visible(picture: np.ndarray, background, points) -> bool:
    """Every cross-section of every polygon edge has a pixel far (LAB) from the background."""
    lab_bg = _lab(background)[0]
    for (x0, y0), (x1, y1) in zip(points, np.roll(points, -1, axis=0), strict=True):
        for t in np.linspace(0.1, 0.9, 9):
            x, y = round(x0 + t * (x1 - x0)), round(y0 + t * (y1 - y0))
            near = picture[max(y - 2, 0):y + 3, max(x - 2, 0):x + 3].reshape(-1, 3)
            if np.linalg.norm(_lab(near) - lab_bg, axis=1).max() < 50:
                return False
    return True


def test_region_outline_is_visible_on_an_all_yellow_image():
    yellow = np.zeros((100, 140, 3), np.uint8)
    yellow[:] = YELLOW
    region = np.array([[10, 10], [120, 15], [110, 90], [20, 80]], np.int32)
    old = yellow.copy()
    cv2.polylines(old, [region], True, YELLOW, 1)  # the export's yellow line: gone on a yellow part
    assert not _region_visible(old, YELLOW, region)
    for name in COLORMAPS:  # magma's region colour is yellow itself: the halo carries it
        out = render_overlay(yellow, None, None, region_polygon=region, colormap=name, thickness=1)
        assert _region_visible(out, YELLOW, region), name
        assert tuple(out[50, 70]) == YELLOW and tuple(out[2, 2]) == YELLOW  # inside and outside untouched
        assert tuple(out[10, 10]) == outline_colours(name).region
    floats = render_overlay(yellow, None, None, region_polygon=region.astype(np.float64) + 0.2, thickness=1)
    assert np.array_equal(floats, render_overlay(yellow, None, None, region_polygon=region, thickness=1))


def test_bad_inputs_are_refused():
    rgb, norm, mask = _scene()
    with pytest.raises(ValueError, match="sizes differ"):
        render_overlay(rgb, norm[:-1], None)
    with pytest.raises(ValueError, match="sizes differ"):
        render_overlay(rgb, norm, mask[:, :-1])
    with pytest.raises(ValueError, match="uint8"):
        render_overlay(rgb.astype(np.float32), norm, None)
    with pytest.raises(ValueError, match="unknown colormap"):
        render_overlay(rgb, norm, mask, colormap="sepia")


def test_draw_outline_keeps_its_old_behaviour():
    rgb, norm, mask = _scene()
    out = visualize.draw_outline(visualize.overlay(rgb, norm), mask, thickness=1)
    assert tuple(out[40, 80]) == (255, 0, 0) and tuple(out[39, 80]) != (255, 0, 0)
    assert np.array_equal(visualize.draw_outline(rgb, np.zeros_like(mask)), rgb)
    haloed = visualize.draw_outline(rgb, mask, (255, 255, 0), halo=True)
    assert tuple(haloed[40, 80]) == YELLOW and tuple(haloed[39, 80]) == (0, 0, 0)


def test_region_at_and_beyond_the_image_border():
    grey = np.full((50, 80, 3), 128, np.uint8)
    whole = np.array([[0, 0], [80, 0], [80, 50], [0, 50]], np.int32)  # roi_polygon of (0, 0)-(1, 1)
    out = render_overlay(grey, None, None, region_polygon=whole, colormap="viridis", thickness=1)
    assert tuple(out[0, 40]) == tuple(out[25, 0]) == outline_colours("viridis").region
    assert tuple(out[25, 40]) == (128, 128, 128)
    away = render_overlay(grey, None, None, region_polygon=whole + 500, thickness=1)
    assert np.array_equal(away, grey)
