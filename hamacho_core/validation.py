"""What a model does at its thresholds, in plain words: "of 52 known defects, 38 would pass as OK; of 40
good images, 2 would be rejected".  The one place the GUI, ``hamacho fit``/``eval`` and the release report
take these sentences from, so they never disagree.

Counted on labelled images only (1 defective, 0 good; unlabelled ones are left out): *escapes* are
defective images judged OK, *false alarms* good images judged NG; REVIEW is counted apart (a person
looks at it).  A warning is added when one good image holds the image threshold up on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from hamacho_core.judging import Judge
from hamacho_core.thresholds import NG, OK, REVIEW, ScoreScale, Thresholds, good_only_threshold

#: Fewest good images for the "one good image holds the threshold up" check (the rule of the others).
MIN_GOOD_FOR_DOMINANCE = 5


@dataclass(frozen=True)
class Validation:
    """Counts of one judgement of labelled images; ``escapes`` and ``false_alarms`` are indices into the
    scores given to :func:`validate` (and ``names`` theirs, when given)."""

    defects: int
    escapes: tuple[int, ...]
    defects_in_review: int
    good: int
    false_alarms: tuple[int, ...]
    good_in_review: int
    names: tuple[str, ...] = ()
    #: index of a good image whose score alone holds the image threshold up, or -1
    dominant: int = -1
    #: score of the next highest good image when ``dominant`` is set
    next_good: float = float("nan")
    dominant_score: float = float("nan")
    #: (synthetic defects, how many pass as OK) from the automatic search, at its threshold
    synthetic: tuple[int, int] | None = None
    extra: dict = field(default_factory=dict)

    def name(self, index: int) -> str:
        return self.names[index] if 0 <= index < len(self.names) else f"image {index + 1}"

    @property
    def escape_names(self) -> list[str]:
        return [self.name(i) for i in self.escapes]

    @property
    def false_alarm_names(self) -> list[str]:
        return [self.name(i) for i in self.false_alarms]

    @property
    def any_labels(self) -> bool:
        return bool(self.defects or self.good)

    def lines(self) -> list[str]:
        """The summary in sentences, most harmful first."""
        out = []
        if self.defects:
            review = f" ({self.defects_in_review} more go to review)" if self.defects_in_review else ""
            out.append(f"Of {self.defects} known defective image{_s(self.defects)}, {len(self.escapes)} would pass "
                       f"as OK{review}.")
        if self.synthetic is not None and self.synthetic[0]:
            n, passing = self.synthetic
            out.append(f"Of {n} synthetic defects placed on held-out good images, {passing} would pass as OK "
                       "(at the threshold the search chose).")
        if self.good:
            review = f" ({self.good_in_review} more go to review)" if self.good_in_review else ""
            out.append(f"Of {self.good} good image{_s(self.good)}, {len(self.false_alarms)} would be rejected as "
                       f"NG{review}.")
        if self.dominant >= 0:
            out.append(f"Warning: one good image ({self.name(self.dominant)}, score {self.dominant_score:.4g}) "
                       f"scores far above the other good images (next {self.next_good:.4g}) and sets the "
                       "threshold on its own: a defect scoring below it passes. Look at that image; if it is an "
                       "unusual good part, lower the threshold or add more parts like it to the training images.")
        if not out:
            out.append("No labelled images: nothing says yet how many defects would pass (score a dataset with "
                       "good and defective images).")
        return out

    def text(self) -> str:
        return "\n".join(self.lines())

    def to_dict(self) -> dict:
        """JSON-ready: counts, the names of escapes and false alarms, the sentences."""
        data = asdict(self)
        data.pop("names")
        data.pop("extra")
        data["escapes"], data["false_alarms"] = self.escape_names, self.false_alarm_names
        data["dominant"] = self.name(self.dominant) if self.dominant >= 0 else None
        for key in ("next_good", "dominant_score"):
            data[key] = None if not np.isfinite(data[key]) else float(data[key])
        data["lines"] = self.lines()
        return data


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def validate(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray,
             judge: Judge | Thresholds, *, names: Sequence[str] = (),
             synthetic: tuple[int, int] | None = None) -> Validation:
    """Judge ``scores`` (raw image scores) with ``judge`` (or bare thresholds) and count, per label, what
    passes and what is rejected.  Non-finite scores count as NG (what the judge does with them)."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels, dtype=int).ravel()
    if scores.shape != labels.shape:
        raise ValueError(f"{scores.size} scores but {labels.size} labels")
    if isinstance(judge, Thresholds):  # bare thresholds: a judge with them (the one place that compares)
        judge = Judge(ScoreScale(judge.image, judge.image - 1.0, "manual"),
                      ScoreScale(judge.pixel, judge.pixel - 1.0, "manual"), judge.review)
    image_threshold = judge.image
    verdicts = judge.verdicts(scores)
    bad, good = labels == 1, labels == 0
    dominant, next_good, top = _dominant_good(scores, good, image_threshold)
    return Validation(
        defects=int(bad.sum()), escapes=tuple(int(i) for i in np.flatnonzero(bad & (verdicts == OK))),
        defects_in_review=int((bad & (verdicts == REVIEW)).sum()),
        good=int(good.sum()), false_alarms=tuple(int(i) for i in np.flatnonzero(good & (verdicts == NG))),
        good_in_review=int((good & (verdicts == REVIEW)).sum()), names=tuple(str(n) for n in names),
        dominant=dominant, next_good=next_good, dominant_score=top, synthetic=synthetic)


def _dominant_good(scores: np.ndarray, good: np.ndarray, image_threshold: float) -> tuple[int, float, float]:
    """The good image that holds the threshold up on its own: it is above the good-only rule applied to the
    other good images, and the threshold sits on it (at most half its lead over the next good image above
    it: a threshold placed by defects, mid-way to the weakest one, is not its doing)."""
    finite = good & np.isfinite(scores)
    if finite.sum() < MIN_GOOD_FOR_DOMINANCE:
        return -1, float("nan"), float("nan")
    index = np.flatnonzero(finite)
    order = index[np.argsort(scores[index])]
    top, rest = order[-1], scores[order[:-1]]
    rule_of_others = good_only_threshold(rest)
    lead = scores[top] - rest.max()
    if scores[top] > rule_of_others and scores[top] <= image_threshold <= scores[top] + 0.5 * lead:
        return int(top), float(rest.max()), float(scores[top])
    return -1, float("nan"), float("nan")


def synthetic_from_auto(auto: dict | None) -> tuple[int, int] | None:
    """(synthetic defects, escapes) of an automatic search's report (``training["auto"]``), if it has them."""
    if not isinstance(auto, dict):
        return None
    try:
        n = int(auto["validation"]["synthetic"])
        passing = int(auto["threshold"]["synthetic_escapes"])
    except (KeyError, TypeError, ValueError):
        return None
    return (n, passing) if n > 0 else None
