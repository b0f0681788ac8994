"""The main window's menu actions, declared once as data: name, menu, text, shortcut, slot and when it
can run.  :class:`Actions` turns them into ``QAction``\\ s in one place and refreshes their enabled state
(:meth:`Actions.refresh`) from the session's events and the worker lanes, so a menu entry is greyed
whenever its action cannot run (slots may still guard themselves).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence

from hamacho_core.models import REGISTRY

Predicate = Callable[[object], bool]  #: window -> whether the action can run now
#: Jobs that replace or change the model when they end (the thresholds are not moved meanwhile).
MODEL_JOBS = ("train", "load_model", "add_good")


# --- predicates: what an action needs ---------------------------------------------------------------
def always(_window) -> bool:
    return True


def has_model(window) -> bool:
    """A model is loaded (trained or opened)."""
    return window.session.model is not None


def has_results(window) -> bool:
    """There are results to review (scored images)."""
    return bool(window.session.results)


def has_dataset(window) -> bool:
    return window.session.dataset is not None


def model_steady(window) -> bool:
    """No job is replacing or changing the model, and the model is not being saved."""
    return window.runner.current not in MODEL_JOBS and window.workers.files.current != "save"


def result_shown(window) -> bool:
    """A result is selected and shown."""
    return 0 <= window.current_row < len(window.session.results)


def incremental_model(window) -> bool:
    """The model can learn one more good image (PatchCore's memory bank grows)."""
    model = window.session.model
    return model is not None and REGISTRY[model.kind].incremental


def can_undo_good(window) -> bool:
    """An image taught as good to the current model can be forgotten again."""
    return window.can_undo_good()


def all_of(*predicates: Predicate) -> Predicate:
    def check(window) -> bool:
        return all(p(window) for p in predicates)
    check.__doc__ = " and ".join(p.__name__ for p in predicates)
    return check


@dataclass(frozen=True)
class ActionSpec:
    """One menu action: ``slot`` is the name of the window's method; ``enabled`` says when it can run."""

    name: str
    menu: str
    text: str
    slot: str
    shortcut: QKeySequence.StandardKey | str | None = None
    enabled: Predicate = always


def live_model(window) -> bool:
    """A model is there for the Live tab to judge with."""
    return window.live_panel.model is not None


MENUS = ("&File", "&Review", "&Run", "&View", "&Help")
ACTIONS = (
    ActionSpec("open_dataset", "&File", "Open &dataset...", "choose_dataset", QKeySequence.StandardKey.Open),
    ActionSpec("open_model", "&File", "Open &model...", "choose_model"),
    ActionSpec("save", "&File", "&Save model", "save_to_library", QKeySequence.StandardKey.Save,
               all_of(has_model, model_steady)),
    ActionSpec("save_as", "&File", "Save model &as...", "choose_save_model", QKeySequence.StandardKey.SaveAs,
               all_of(has_model, model_steady)),
    ActionSpec("inspect_folder", "&File", "&Inspect folder with current model...", "choose_inspect_folder", None,
               all_of(has_model, model_steady)),
    ActionSpec("export", "&File", "&Export results...", "choose_export", None, all_of(has_model, has_results)),
    ActionSpec("export_report", "&File", "Export validation &report...", "choose_export_report", None,
               all_of(has_model, has_results)),
    ActionSpec("quit", "&File", "&Quit", "close", QKeySequence.StandardKey.Quit),
    ActionSpec("add_good", "&Review", "&Add current image as good (fix a false alarm)", "add_current_as_good",
               "Ctrl+G", all_of(incremental_model, result_shown, model_steady)),
    ActionSpec("undo_good", "&Review", "&Undo: forget the last image taught as good", "undo_teach_good",
               QKeySequence.StandardKey.Undo, all_of(can_undo_good, model_steady)),
    ActionSpec("score_dataset", "&Review", "&Score the loaded dataset with this model", "score_dataset", None,
               all_of(has_model, has_dataset, model_steady)),
    ActionSpec("suggest_threshold", "&Review", "S&uggest threshold", "suggest_threshold", None,
               all_of(has_model, has_results)),
    ActionSpec("train", "&Run", "&Train (or find best settings and train)", "station.train", "Ctrl+T",
               all_of(has_dataset, model_steady)),
    ActionSpec("start_live", "&Run", "&Start live inspection", "station.start_live", "F5", live_model),
    ActionSpec("stop_live", "&Run", "St&op live inspection", "station.stop_live", "Shift+F5"),
    ActionSpec("pause_live", "&Run", "&Pause / resume live inspection", "station.pause_live", "F6"),
    ActionSpec("trigger", "&Run", "T&rigger the camera (software trigger)", "station.trigger", "F8"),
    ActionSpec("operator_view", "&View", "&Operator view (full screen)", "station.enter_operator_view", "F11"),
    ActionSpec("engineer_pin", "&View", "Engineer &PIN...", "station.set_pin"),
    ActionSpec("reset_layout", "&View", "&Reset layout", "station.reset_layout"),
    ActionSpec("shortcuts", "&Help", "&Keyboard shortcuts", "station.show_shortcuts", "F1"),
    ActionSpec("about", "&Help", "&About Hamacho", "about"),
)


class Actions:
    """The window's ``QAction``\\ s built from ``specs`` into its menu bar; ``actions["save"]`` is one."""

    def __init__(self, window, specs: tuple[ActionSpec, ...] = ACTIONS, menus: tuple[str, ...] = MENUS):
        self.window, self.specs = window, specs
        self.menus = {title: window.menuBar().addMenu(title) for title in menus}
        self.by_name: dict[str, QAction] = {}
        for spec in specs:
            action = QAction(spec.text, window)
            if spec.shortcut is not None:
                action.setShortcut(QKeySequence(spec.shortcut))
            target = window
            for part in spec.slot.split("."):  # "station.train": the window's station's method
                target = getattr(target, part)
            action.triggered.connect(lambda _checked=False, slot=target: slot())
            self.menus[spec.menu].addAction(action)
            self.by_name[spec.name] = action
        self.refresh()

    def __getitem__(self, name: str) -> QAction:
        return self.by_name[name]

    def refresh(self, *_args) -> None:
        """Enable each action exactly when its predicate holds (connected to the session's events and
        the lanes' started / idle signals)."""
        for spec in self.specs:
            self.by_name[spec.name].setEnabled(bool(spec.enabled(self.window)))
