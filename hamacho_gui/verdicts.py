"""OK / NG / REVIEW verdicts from raw scores and user-chosen thresholds, for the panels (no Qt).

The rules live in one place, :class:`hamacho_core.judging.Judge`; this module only adapts the GUI's
:class:`~hamacho_core.thresholds.Thresholds` (the raw values the sliders hold) to it.
"""

from __future__ import annotations

import numpy as np

from hamacho_core.judging import NG, OK, REVIEW, Judge
from hamacho_core.thresholds import ScoreScale, Thresholds
from hamacho_core.validation import Validation

#: the results list's filters of mistakes (defective judged OK; good judged NG), also the links' targets
ESCAPES, FALSE_ALARMS = "escapes", "false alarms"

__all__ = ["ESCAPES", "FALSE_ALARMS", "NG", "OK", "REVIEW", "Thresholds", "display_scale", "judge_at",
           "plain_words_html", "verdicts"]

_UNIT = ScoreScale(1.0, 0.0, "manual")  # only the thresholds matter for verdicts and masks


def judge_at(image: float, pixel: float | None = None, review: float | None = None) -> Judge:
    """A judge for raw thresholds as the sliders hold them (a review threshold above ``image`` is clamped)."""
    return Judge(_UNIT, _UNIT).with_thresholds(image, pixel, review)


def verdicts(scores: np.ndarray, t: Thresholds) -> np.ndarray:
    """Verdict (``OK``/``NG``/``REVIEW``) of every raw image score, as a numpy array of ``str``
    with the shape of ``scores``."""
    return judge_at(t.image, t.pixel, t.review).verdicts(scores)


def display_scale(model: ScoreScale, threshold: float) -> ScoreScale:
    """The normalised (0.5 at the threshold) scale for displaying scores when the user has moved
    the threshold: the model's own scale at its own threshold, else ``model.with_threshold``."""
    return model.at(threshold)


def plain_words_html(v: Validation) -> str:
    """The validation summary for a label: its sentences, each count of mistakes a link that filters the
    results list to them (``escapes`` / ``false alarms``)."""
    import html

    lines = [html.escape(line) for line in v.lines()]
    links = [(ESCAPES, len(v.escapes), "show them"), (FALSE_ALARMS, len(v.false_alarms), "show them")]
    out = []
    for line in lines:
        for key, count, text in links:
            if count and ((key == ESCAPES and "would pass as OK" in line and "synthetic" not in line)
                          or (key == FALSE_ALARMS and "would be rejected" in line)):
                line += f' <a href="{key}">{text}</a>'
        out.append(f'<span style="color:#c62828">{line}</span>' if line.startswith("Warning") else line)
    return "<br>".join(out)
