"""Review > Add current image as good (Ctrl+G) and its Undo (Ctrl+Z): the model learns one image it judged
wrongly, after a confirmation (asked twice for an image labelled defective), and forgets it again on Undo.
Both changes go to the audit trail."""

from __future__ import annotations

from pathlib import Path

from hamacho_core.models import REGISTRY
from hamacho_gui import dialogs, tasks


class Teacher:
    """Teach-as-good of one main window; each step keeps what Undo puts back."""

    def __init__(self, window):
        self.window = window
        #: (model, its fitted state before, results before, pixel AUROC, change text) per image taught as good
        self.undo_stack: list[tuple] = []

    def add_current(self) -> None:
        """Teach the model that the shown image is good (PatchCore memory bank grows), then re-score."""
        w = self.window
        s, row = w.session, w.current_row
        if s.model is None or not 0 <= row < len(s.results):
            w.show_error("Select a result first.")
            return
        spec = REGISTRY[s.model.kind]
        if not spec.incremental:
            w.show_error(f"{spec.name} cannot learn incrementally; retrain with the image in good/.")
            return
        if w.workers.files.current == "save":
            w.show_error("The model is being saved: teach the image as good when the save has finished.")
            return
        item = s.results[row]
        path = item.path
        if not dialogs.confirm_teach_good(w, path.name, item.label == 1):
            return
        what = f"{path.name} taught as good"
        # What Undo puts back: the fitted state before (add_images swaps a new bank in, the old arrays stay as they
        # are), the results and the change mark.
        self.undo_stack.append((s.model, dict(s.model.state_arrays()), list(s.results), s.pixel_auroc, what))
        s.model_changed(what)  # from now on: the bank changes as the job runs
        w.run_job("add_good", tasks.add_good(s.model, path, s.results), self._on_taught)

    def _on_taught(self, result) -> None:
        w = self.window
        scored, details = result
        w.session.training.setdefault("added_good_files", []).append(details["path"])
        w.session.set_results(scored.results, scored.pixel_auroc)
        w.audit.record("taught as good", f"memory bank {details['previous_memory_bank']}",
                       f"{details['path']} (memory bank {details['memory_bank']})")
        w.statusBar().showMessage(f"Added {Path(details['path']).name} as good: memory bank "
                                  f"{details['previous_memory_bank']} -> {details['memory_bank']} patches")

    def can_undo(self) -> bool:
        return bool(self.undo_stack) and self.undo_stack[-1][0] is self.window.session.model

    def undo(self) -> None:
        """Forget the last image taught as good: the model's previous state, results and change mark come back."""
        if not self.can_undo():
            return
        w = self.window
        s = w.session
        model, arrays, results, pixel_auroc, what = self.undo_stack.pop()
        model.load_state_arrays(arrays)
        added = s.training.get("added_good_files") or []
        if added:
            added.pop()
        s.set_results(results, pixel_auroc)
        s.revert_change(what)
        w.audit.record("undo: taught as good", what, "forgotten")
        w.menu_actions.refresh()
        w.statusBar().showMessage(f"Undone: {what}")
