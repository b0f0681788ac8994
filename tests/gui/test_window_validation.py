"""Issue 24: validation in plain words in the main window -- the thresholds panel says how many known
defects would pass and how many good images would be rejected, its links filter the results to them,
escapes and false alarms are highlighted, names found in several folders show their folder, and File >
Export validation report writes the release report."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from hamacho_core import synthetic
from hamacho_gui import dialogs
from hamacho_gui.main_window import MainWindow
from hamacho_gui.results_panel import ResultsModel
from hamacho_gui.verdicts import ESCAPES, FALSE_ALARMS, Thresholds
from tests.gui.test_main_window import SIZE, open_and_train, wait_task


@pytest.fixture
def dataset_dir(tmp_path):
    root = tmp_path / "data"
    synthetic.write_dataset(root, category="texture", n_train_good=12, n_test_good=0, n_test_bad=6, size=SIZE,
                            seed=0)
    good_names = sorted(p.name for p in (root / "good").iterdir())
    for bad, name in zip(sorted((root / "bad").iterdir()), good_names, strict=False):  # same names, two folders
        mask = root / "mask" / bad.name
        bad.rename(bad.with_name(name))
        if mask.exists():
            mask.rename(mask.with_name(name))
    return root


@pytest.fixture
def window(qtbot):
    win = MainWindow()
    win.show()
    yield win
    win.session.changes.clear()
    win.close()
    win.deleteLater()


def rows_shown(window) -> list[int]:
    return window.results_panel.visible_rows()


def test_plain_words_links_highlights_and_report(qtbot, window, dataset_dir, tmp_path, monkeypatch):
    open_and_train(qtbot, window, dataset_dir)
    s, panel, plain = window.session, window.results_panel, window.threshold_panel.plain_label
    n_bad = sum(r.label == 1 for r in s.results)
    n_good = sum(r.label == 0 for r in s.results)
    assert n_bad == 6 and n_good == 2
    shown = [panel.model.data(panel.model.index(row, ResultsModel.IMAGE)) for row in range(len(s.results))]
    assert any(name.startswith("bad/") for name in shown) and any(name.startswith("good/") for name in shown), (
        "a file name found in two folders shows its folder")

    highest = max(r.raw_score for r in s.results)
    window.threshold_panel.set_thresholds(Thresholds(image=highest + 1.0, pixel=s.thresholds.pixel))
    assert f"Of {n_bad} known defective images, {n_bad} would pass as OK." in plain.text()
    assert f'href="{ESCAPES}"' in plain.text(), "the escapes are one click away"
    assert "known defects pass as OK" in panel.counts.text()
    plain.linkActivated.emit(ESCAPES)  # what clicking "show them" does
    assert panel.filter.currentData() == ESCAPES
    assert sorted(rows_shown(window)) == [i for i, r in enumerate(s.results) if r.label == 1]
    background = [panel.model.data(panel.model.index(row, ResultsModel.SCORE), Qt.ItemDataRole.BackgroundRole)
                  for row in range(len(s.results))]
    assert [b is not None for b in background] == [r.label == 1 for r in s.results], "escapes are highlighted"

    lowest = min(r.raw_score for r in s.results)
    window.threshold_panel.set_thresholds(Thresholds(image=lowest - 1e-3, pixel=s.thresholds.pixel))
    assert f"Of {n_good} good images, {n_good} would be rejected as NG." in plain.text()
    assert rows_shown(window) == [], "no escapes left at a threshold below every score: the filter follows"
    assert "None listed" in panel.counts.text(), "an empty list says why it is empty"
    plain.linkActivated.emit(FALSE_ALARMS)
    assert sorted(rows_shown(window)) == [i for i, r in enumerate(s.results) if r.label == 0]
    assert panel.current_row() in rows_shown(window), "the image shown is one of those listed"

    target = tmp_path / "reports" / "release"
    target.parent.mkdir()
    monkeypatch.setattr(dialogs, "save_file", lambda *_a, **kw: target.with_suffix("." + kw["suffix"]))
    action = window.menu_actions["export_report"]
    assert action.isEnabled()
    action.trigger()
    wait_task(qtbot, window, "report")
    page = target.with_suffix(".html").read_text(encoding="utf-8")
    assert f"Of {n_good} good images, {n_good} would be rejected as NG." in page
    assert page.count("data:image/png;base64,") >= 1 + n_good, "histogram and each false alarm's thumbnail"
    assert "Validation report written" in window.statusBar().currentMessage()
    assert "Trained on" in page, "an unsaved model's report says what it was trained on"
