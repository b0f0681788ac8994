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


MENUS = ("&File", "&Review", "&Help")
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
    ActionSpec("quit", "&File", "&Quit", "close", QKeySequence.StandardKey.Quit),
    ActionSpec("add_good", "&Review", "&Add current image as good (fix a false alarm)", "add_current_as_good",
               "Ctrl+G", all_of(incremental_model, result_shown, model_steady)),
    ActionSpec("undo_good", "&Review", "&Undo: forget the last image taught as good", "undo_teach_good",
               QKeySequence.StandardKey.Undo, all_of(can_undo_good, model_steady)),
    ActionSpec("score_dataset", "&Review", "&Score the loaded dataset with this model", "score_dataset", None,
               all_of(has_model, has_dataset, model_steady)),
    ActionSpec("suggest_threshold", "&Review", "S&uggest threshold", "suggest_threshold", None,
               all_of(has_model, has_results)),
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
            action.triggered.connect(getattr(window, spec.slot))
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
