"""Automatic configuration: try model settings on held-out data and keep the one that finds the defects.

The good training images are split once (seeded): most train every candidate, the rest are held out.
Validation = the held-out good images (false alarms), synthetic defects painted on them with masks
(:mod:`hamacho_core.defects`: scratches, pits, foreign texture, colour changes), and, in the hamacho layout,
the real defects of ``bad/`` with their masks.  MVTec's ``test/`` is never used: it is for ``eval``.

Candidates (geometry, backbone, layers, model kind) whose predicted time an image is above ``max_ms`` or
whose memory does not fit are listed as skipped, with the reason; settings given by hand are kept in all.
Large sets are screened first on a subset; the best and today's default are then fitted on all training
images and judged on all validation data.  Criterion: image AUROC (goods against defects); today's default
stays unless a candidate beats it in :data:`CONFIDENCE` of paired bootstrap resamples of the validation
images; among those, ties (within :data:`TIE`) are broken by pixel AUROC, then by time an image.  The
winner's image threshold is the robust good-only rule (:func:`hamacho_core.thresholds.robust_good_threshold`),
or F1-optimal when real defects are known; the report says how many synthetic and real defects would pass as
OK at it.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from hamacho_core import defects, thresholds
from hamacho_core.backbones import layers_by_stride
from hamacho_core.dataset import Dataset, ImageItem
from hamacho_core.geometry import typical_dims
from hamacho_core.imageio import read_image
from hamacho_core.judging import Judge
from hamacho_core.machine import available_memory_mb
from hamacho_core.metrics import PixelSample, _auroc
from hamacho_core.models import DEFAULT_KIND, REGISTRY, AnomalyModel, ModelConfig, model_spec
from hamacho_core.models.base import holdout_indices
from hamacho_core.models.config import ConfigError
from hamacho_core.models.planning import planned_cost
from hamacho_core.preprocess import Preprocess
from hamacho_core.progress import Cancelled, ProgressFn, StopFn, report
from hamacho_core.review import read_mask

#: A station's time budget an image when nobody says (5 parts a second).
DEFAULT_MAX_MS = 200.0
#: Minutes the whole search may take when nobody says; past it, candidates not yet tried are listed as such.
DEFAULT_BUDGET_MIN = 5.0
#: Training images each candidate is screened on when there are more; the best FINALISTS then use all.
SCREEN_IMAGES, FINALISTS = 40, 2
#: Image AUROCs this close are a tie (broken by pixel AUROC, then by time).
TIE = 0.005
#: A candidate replaces today's default only if it beats it in this share of paired bootstrap resamples of the
#: validation images (a few dozen images rank close candidates by chance otherwise).
CONFIDENCE, BOOTSTRAP = 0.9, 400
#: A candidate measured above this multiple of ``max_ms`` (prediction off, or a busy PC) wins only if no other can.
OVER_BUDGET = 1.5
#: Synthetic defects painted on each held-out good image (one family after another), and at most in all.
DEFECTS_PER_GOOD, MAX_SYNTHETIC = 2, 64
#: Share of the good images held out for validation (at least 5 when there are 15 or more).
HOLDOUT_FRACTION = 0.25
BASELINE = "today's default"


@dataclass(frozen=True)
class Candidate:
    """One setting to try: a model kind and its config fields (explicit settings merged in)."""

    kind: str
    fields: tuple[tuple[str, object], ...]
    label: str
    default: bool = False  #: today's default (with the settings given by hand)

    @property
    def settings(self) -> dict:
        return dict(self.fields)

    def config(self) -> ModelConfig:
        return model_spec(self.kind).config(**self.settings)


@dataclass(frozen=True)
class AutoRequest:
    """What a search is asked for: settings set by hand (kept), a model kind set by hand, the budgets."""

    pinned: dict = field(default_factory=dict)
    kind: str | None = None
    max_ms: float = DEFAULT_MAX_MS
    budget_min: float = DEFAULT_BUDGET_MIN


@dataclass
class CandidateResult:
    name: str
    kind: str
    settings: dict
    default: bool = False  #: today's default (with the settings given by hand)
    status: str = "skipped"  #: skipped, screened, finalist, winner, failed, not tried
    reason: str = ""
    predicted_ms: float | None = None
    memory_mb: float | None = None
    image_auroc: float | None = None
    pixel_auroc: float | None = None
    fa_at_95_recall: float | None = None
    ms_per_image: float | None = None
    fit_s: float | None = None
    n_train: int = 0

    over_budget: bool = False  #: measured well above the station's time budget: wins only if nothing else can
    #: Share of paired bootstrap resamples of the validation set in which it beat today's default's image AUROC.
    beats_default: float | None = None

    def key(self) -> tuple:
        """Sort key: better first (within the time budget, then AUROC in TIE steps, pixel AUROC, time)."""
        return (self.over_budget, -round((self.image_auroc or 0.0) / TIE), -round((self.pixel_auroc or 0.0) / TIE),
                self.ms_per_image or 0.0)


@dataclass
class AutoReport:
    rows: list[CandidateResult]
    winner: str
    why: str
    criterion: str
    validation: dict  #: counts of good, synthetic and real images
    threshold: dict  #: rule, value, escapes and false alarms at it
    seconds: float
    max_ms: float
    budget_min: float
    stopped: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        """The report as text (the CLI prints it; the GUI shows it)."""
        head = (f"{'candidate':44} {'status':9} {'img AUROC':>9} {'P>def':>5} {'pix AUROC':>9} {'FA@95%':>7} "
                f"{'ms/img':>7} {'MB':>6}")
        lines = [head, "-" * len(head)]

        def num(value, digits=3):
            return "-" if value is None else f"{value:.{digits}f}"

        for r in self.rows:
            lines.append(f"{r.name[:44]:44} {r.status:9} {num(r.image_auroc):>9} {num(r.beats_default, 2):>5} "
                         f"{num(r.pixel_auroc):>9} "
                         f"{num(r.fa_at_95_recall, 2):>7} {num(r.ms_per_image, 0):>7} {num(r.memory_mb, 0):>6}"
                         + (f"  {r.reason}" if r.reason else ""))
        t, v = self.threshold, self.validation
        notes = [f"Winner: {self.winner} ({self.why}).", f"Criterion: {self.criterion}.",
                 f"Validation: {v['good']} held-out good images, {v['synthetic']} synthetic defects, "
                 f"{v['real']} real defects.",
                 f"Threshold ({t['rule']}): {t['false_alarms']} of {v['good']} held-out good images flagged; "
                 f"{t['synthetic_escapes']} of {v['synthetic']} synthetic"
                 + (f" and {t['real_escapes']} of {v['real']} real" if v["real"] else "")
                 + " defects would pass as OK.", self.stopped]
        lines.append("")
        for note in filter(None, notes):
            lines += textwrap.wrap(note, len(head), subsequent_indent="  ")
        return "\n".join(lines)


@dataclass
class AutoResult:
    model: AnomalyModel
    report: AutoReport
    training: dict = field(default_factory=dict)


# --- candidates -------------------------------------------------------------------------------------------
def candidates(pinned: dict, kind: str | None, dims: tuple[int, int] | None) -> list[Candidate]:
    """The settings to try for images of ``dims`` (width, height), today's default first.  ``pinned``:
    config fields set by hand (every candidate keeps them); ``kind``: a model kind set by hand."""
    w, h = dims or (256, 256)
    lite0 = "efficientnet_lite0"
    main = kind or DEFAULT_KIND
    plain = [(main, {}, BASELINE),
             (main, {"layers": layers_by_stride(lite0, (4, 8))}, "shallower layers (stride 4+8)"),
             (main, {"backbone": "efficientnet_lite1"}, "EfficientNet-Lite1"),
             (main, {"backbone": "efficientnet_lite2"}, "EfficientNet-Lite2")]
    plain += [(other, {}, "its defaults") for other in REGISTRY if other != main and kind is None]
    if min(w, h) >= 384:  # a larger input only where the images have the pixels (no upsampling)
        plain.insert(1, (main, {"image_size": 384}, "fixed 384 px"))
    if max(w, h) / min(w, h) > 1.3:
        plain.append((main, {"geometry": "aspect"}, "aspect kept, 256 px short side"))
    for scale in (1.0, 0.5):
        if min(w, h) * scale >= 320:  # more than one tile of 256 px
            plain.append((main, {"geometry": "tiles", "tile_scale": scale}, f"tiles at scale {scale:g}"))
    out, seen = [], set()
    for cand_kind, fields, label in plain:
        if "layers" in fields and ("backbone" in pinned or "layers" in pinned):
            continue
        if "backbone" in fields and "layers" in pinned:
            continue
        merged = {**fields, **pinned}
        key = (cand_kind, tuple(sorted((k, str(v)) for k, v in merged.items())))
        if key in seen:
            continue
        seen.add(key)
        name = f"{model_spec(cand_kind).name}, {label}"
        out.append(Candidate(cand_kind, tuple(merged.items()), name, label == BASELINE))
    return out


# --- validation data --------------------------------------------------------------------------------------
class _Painted(Sequence):
    """Synthetic defects painted on held-out good images, made when asked (bounded memory): item ``i`` is
    defect ``i // len(goods)`` on good image ``i % len(goods)``, family after family."""

    def __init__(self, goods: list[ImageItem], count: int, region, seed: int):
        self.goods, self.count, self.region, self.seed = goods, count, region, seed
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return self.count

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if i not in self._cache:
            if len(self._cache) > 8:
                self._cache.clear()
            image = read_image(self.goods[i % len(self.goods)].path)
            family = defects.FAMILIES[i % len(defects.FAMILIES)]
            region = None if self.region is None else self.region(image.shape[:2])
            self._cache[i] = defects.paint_defect(image, family, (self.seed, i), region)
        return self._cache[i]

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.sample(j)[0] for j in range(*i.indices(self.count))]
        if not -self.count <= i < self.count:
            raise IndexError(i)
        return self.sample(i % self.count)[0]


@dataclass
class _Validation:
    goods: list[ImageItem]
    painted: _Painted
    real: list[ImageItem]

    def subset(self, n_good: int, n_painted: int) -> _Validation:
        return _Validation(self.goods[:n_good], _Painted(self.painted.goods, min(n_painted, len(self.painted)),
                                                         self.painted.region, self.painted.seed), self.real)

    @property
    def images(self) -> list:
        return [*(it.path for it in self.goods), *self.painted, *(it.path for it in self.real)]

    @property
    def kinds(self) -> np.ndarray:
        """0 good, 1 synthetic, 2 real defect."""
        return np.array([0] * len(self.goods) + [1] * len(self.painted) + [2] * len(self.real))

    def masks(self) -> list[np.ndarray | None]:
        return ([None] * len(self.goods) + [self.painted.sample(i)[1] for i in range(len(self.painted))]
                + [read_mask(it.mask_path) for it in self.real])


def _roi_region(roi):
    """A function (height, width) -> bool mask of the region of interest, or None without one."""
    if roi is None:
        return None
    import cv2

    pre = Preprocess(256, None, roi)

    def region(shape):
        inside = np.zeros(shape, np.uint8)
        cv2.fillPoly(inside, [pre.roi_polygon(*shape)], 1)
        return inside.astype(bool)

    return region


def split(dataset: Dataset, seed: int = 0) -> tuple[list[ImageItem], _Validation]:
    """(training items, validation) from the dataset's good images (and ``bad/`` in the hamacho layout)."""
    goods = list(dataset.train)
    held = set(holdout_indices(len(goods), HOLDOUT_FRACTION, seed))
    if len(goods) >= 15 and len(held) < 5:
        held = set(np.random.default_rng(seed).permutation(len(goods))[:5].tolist())
    train = [it for i, it in enumerate(goods) if i not in held]
    held_items = [it for i, it in enumerate(goods) if i in held]
    if not held_items:
        raise ValueError(f"automatic configuration needs at least 5 good images to hold some out (got {len(goods)})")
    count = min(MAX_SYNTHETIC, DEFECTS_PER_GOOD * len(held_items) * 2)
    real = [it for it in dataset.test if it.label == 1] if dataset.layout == "hamacho" else []
    return train, _Validation(held_items, _Painted(held_items, count, None, seed), real)


# --- judging one candidate --------------------------------------------------------------------------------
@dataclass
class _Scored:
    scores: np.ndarray
    image_scale: thresholds.ScoreScale
    pixel_scale: thresholds.ScoreScale


def _evaluate(model: AnomalyModel, validation: _Validation, row: CandidateResult,
              should_stop: StopFn | None) -> _Scored:
    images, kinds = validation.images, validation.kinds
    started = time.perf_counter()
    scores, maps = model.raw_predict(images, should_stop=should_stop)
    row.ms_per_image = 1000 * (time.perf_counter() - started) / len(images)
    labels = (kinds > 0).astype(int)
    row.image_auroc = _auroc(labels, scores)
    bad = np.sort(scores[labels == 1])
    cut = bad[int(np.floor(0.05 * len(bad)))]
    row.fa_at_95_recall = float(np.mean(scores[labels == 0] >= cut))
    shape = model.preprocess.output_shape
    masks = np.stack([model.preprocess.mask(m) if m is not None else np.zeros(shape, bool)
                      for m in validation.masks()])
    pixels = PixelSample(maps.size)
    for one_map, mask in zip(maps, masks, strict=True):
        pixels.add(one_map, mask)
    row.pixel_auroc = pixels.auroc()
    good = scores[kinds == 0]
    if (kinds == 2).any():
        keep = kinds != 1
        image_scale = thresholds.image_scale(scores[keep], labels[keep])
    else:
        t = thresholds.robust_good_threshold(good)
        image_scale = thresholds.ScoreScale(t, min(float(good.min()), t - 1e-6), thresholds.ROBUST)
    pixel_scale = thresholds.pixel_scale(maps, labels, masks)
    return _Scored(scores, image_scale, pixel_scale)


def _fit_candidate(cand: Candidate, train: list[ImageItem], validation: _Validation, row: CandidateResult,
                   progress: ProgressFn | None, should_stop: StopFn | None) -> tuple[AnomalyModel, _Scored]:
    model = model_spec(cand.kind).model_cls(cand.config())
    started = time.perf_counter()
    model.fit([it.path for it in train], calibrate=False, progress=progress, should_stop=should_stop)
    row.fit_s = time.perf_counter() - started
    row.n_train = len(train)
    return model, _evaluate(model, validation, row, should_stop)


# --- the search -------------------------------------------------------------------------------------------
def search(dataset: Dataset, *, pinned: dict | None = None, kind: str | None = None,
           max_ms: float = DEFAULT_MAX_MS, budget_min: float = DEFAULT_BUDGET_MIN,
           progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> AutoResult:
    """Try the candidates on held-out data and return the winner, fitted, with its thresholds and report.

    A stop request (``should_stop``) after a candidate has been judged keeps the best so far."""
    started = time.perf_counter()
    pinned = dict(pinned or {})
    seed = int(pinned.get("seed", 0))
    train, validation = split(dataset, seed)
    validation.painted.region = _roi_region(ModelConfig(roi=pinned.get("roi")).roi)
    dims = typical_dims([it.path for it in train], Preprocess(256))
    free = available_memory_mb()
    rows, runnable = [], []
    for cand in candidates(pinned, kind, dims):
        row = CandidateResult(cand.label, cand.kind, {k: _plain(v) for k, v in cand.fields}, default=cand.default)
        rows.append(row)
        try:
            config = cand.config()
        except (ConfigError, ValueError) as exc:
            row.reason = f"not possible with the settings given ({exc})"
            continue
        _, _, row.predicted_ms = planned_cost(config, dims, len(train))
        row.memory_mb = model_spec(cand.kind).estimate_memory(config, len(train), dims)["fit_peak_mb"]
        if row.predicted_ms is not None and row.predicted_ms > max_ms:
            row.reason = f"about {row.predicted_ms:.0f} ms an image, above the budget of {max_ms:g} ms"
        elif free is not None and row.memory_mb > 0.9 * free:
            row.reason = f"needs about {row.memory_mb:.0f} MB, {free:.0f} MB free"
        else:
            runnable.append((cand, row))
    if not runnable:
        raise ValueError("no candidate fits the time and memory budget: raise --max-ms or free memory\n"
                         + "\n".join(f"  {r.name}: {r.reason}" for r in rows))
    deadline = started + 60 * budget_min
    screening = len(train) > SCREEN_IMAGES
    screen_train = ([train[i] for i in sorted(np.random.default_rng(seed).permutation(len(train))[:SCREEN_IMAGES])]
                    if screening else train)
    screen_val = validation.subset(min(len(validation.goods), 12), min(len(validation.painted), 24)) \
        if screening else validation
    stopped = ""
    total = len(runnable) + (min(FINALISTS, len(runnable)) if screening else 0)
    step = 0

    def attempt(cand, row, items, val):
        nonlocal step
        step += 1
        stage = f"auto {step}/{total} {cand.label}"
        report(progress, stage, 0, 1)
        inner = None if progress is None else (lambda s, d, t: progress(f"{stage}: {s}", d, t))
        try:  # Cancelled goes up to the caller, which keeps the best so far
            model, scored = _fit_candidate(cand, items, val, row, inner, should_stop)
        except (MemoryError, ValueError, RuntimeError) as exc:
            row.status, row.reason = "failed", str(exc).splitlines()[0][:200]
            return None
        if row.ms_per_image > OVER_BUDGET * max_ms:
            row.over_budget = True
            row.reason = f"measured {row.ms_per_image:.0f} ms an image, over the budget of {max_ms:g} ms"
        report(progress, stage, 1, 1)
        return model, scored

    def stop_now() -> str:
        if should_stop is not None and should_stop():
            return "Stopped by request: the best candidate so far was kept."
        if time.perf_counter() > deadline:
            return f"The budget of {budget_min:g} min ran out: candidates not tried are listed as such."
        return ""

    results: list[tuple[CandidateResult, AnomalyModel, _Scored]] = []
    for cand, row in runnable:
        stopped = stopped or (stop_now() if results else "")
        if stopped:
            row.status, row.reason = "not tried", "budget or stop"
            continue
        try:
            got = attempt(cand, row, screen_train, screen_val)
        except Cancelled:
            if not results:
                raise
            stopped = "Stopped by request: the best candidate so far was kept."
            row.status, row.reason = "not tried", "stopped"
            continue
        if got is not None:
            row.status = "screened" if screening else "judged"
            results.append((row, *got))
    if not results:
        raise ValueError("every candidate failed:\n" + "\n".join(f"  {r.name}: {r.reason}" for r in rows))
    baseline = next((row for cand, row in runnable if cand.default), None)
    results = _order(results, screen_val.kinds > 0, baseline, seed)
    if screening and not stopped.startswith("Stopped"):
        finals = []  # the best is always fitted on every training image; today's default (or the runner-up)
        others = [item for item in results[1:] if item[0] is baseline] or results[1:]  # while the budget lasts
        for row, _model, _scored in [results[0], *others[:FINALISTS - 1]]:
            cand = next(c for c, r in runnable if r is row)
            late = stop_now() if finals else ""
            # a fit grows faster than its images (the coreset): skip a second final the budget cannot hold
            expected = (row.fit_s or 0.0) * (len(train) / max(1, len(screen_train))) ** 2
            if finals and not late and time.perf_counter() + expected > deadline:
                late = (f"{row.name} was not fitted on all images: about {expected / 60:.0f} min expected, "
                        f"beyond the budget of {budget_min:g} min.")
            if late:
                stopped = stopped or late
                break
            try:
                got = attempt(cand, row, train, validation)
            except Cancelled:
                stopped = "Stopped by request: the best candidate so far was kept."
                break
            if got is not None:
                row.status = "finalist"
                finals.append((row, *got))
        if finals:
            results = _order(finals, validation.kinds > 0, baseline, seed)
    row, model, scored = results[0]
    row.status = "winner"
    model.set_scales(scored.image_scale, scored.pixel_scale)
    kinds = validation.kinds if row.n_train == len(train) else screen_val.kinds
    at = Judge(scored.image_scale, scored.pixel_scale).verdicts(scored.scores) != thresholds.OK
    report_ = AutoReport(
        rows, row.name, _why(row, results), "image AUROC on held-out good images against synthetic and real "
        f"defects; today's default stays unless a candidate beats it in {CONFIDENCE:.0%} of {BOOTSTRAP} paired "
        f"bootstrap resamples; among those, ties (within {TIE}) broken by pixel AUROC, then by time an image",
        {"good": int((kinds == 0).sum()), "synthetic": int((kinds == 1).sum()), "real": int((kinds == 2).sum())},
        {"rule": scored.image_scale.method, "value": scored.image_scale.threshold,
         "false_alarms": int((at & (kinds == 0)).sum()),
         "synthetic_escapes": int((~at & (kinds == 1)).sum()), "real_escapes": int((~at & (kinds == 2)).sum())},
        round(time.perf_counter() - started, 1), max_ms, budget_min, stopped)
    trained = train if row.n_train == len(train) else screen_train
    judged_on = validation if row.n_train == len(train) else screen_val
    training = {"dataset": str(dataset.root), "layout": dataset.layout, "n_train": row.n_train,
                "n_validation": len(kinds), "n_skipped": len(dataset.skipped),
                "train_files": [str(it.path.resolve()) for it in trained],
                "validation_files": [str(it.path.resolve()) for it in (*judged_on.goods, *judged_on.real)],
                "threshold_source": f"image: {scored.image_scale.method}; pixel: {scored.pixel_scale.method}",
                "fit_seconds": report_.seconds, "auto": report_.to_dict()}
    return AutoResult(model, report_, training)


def _win_share(scores: np.ndarray, base: np.ndarray, labels: np.ndarray, seed: int) -> float:
    """Share of stratified paired bootstrap resamples of the validation images in which ``scores`` separate
    good from defective (image AUROC) better than ``base``."""
    good, bad = np.flatnonzero(~labels), np.flatnonzero(labels)
    if not len(good) or not len(bad):
        return 0.0
    rng = np.random.default_rng(seed)
    wins = 0
    for _ in range(BOOTSTRAP):
        g, b = rng.choice(good, len(good)), rng.choice(bad, len(bad))
        wins += _auc(scores[g], scores[b]) > _auc(base[g], base[b])
    return wins / BOOTSTRAP


def _auc(good: np.ndarray, bad: np.ndarray) -> float:
    return float((bad[:, None] > good[None, :]).mean() + 0.5 * (bad[:, None] == good[None, :]).mean())


def _order(results: list, labels: np.ndarray, baseline: CandidateResult | None, seed: int) -> list:
    """Best first: today's default unless a candidate beats it in :data:`CONFIDENCE` of the bootstrap resamples
    (then the best of those by :meth:`CandidateResult.key`); the rest by key."""
    def key(item):
        return item[0].key()

    base = next((item for item in results if item[0] is baseline and not item[0].over_budget), None)
    if base is None:
        return sorted(results, key=key)
    eligible = [base]
    for item in results:
        if item is not base:
            item[0].beats_default = _win_share(item[2].scores, base[2].scores, labels, seed)
            if item[0].beats_default >= CONFIDENCE:
                eligible.append(item)
    first = min(eligible, key=key)
    return [first, *sorted((item for item in results if item is not first), key=key)]


def _why(row: CandidateResult, results) -> str:
    if len(results) == 1:
        return "the only candidate judged"
    runner = results[1][0]
    if row.default and runner.beats_default is not None:
        return (f"no other candidate beat it in {CONFIDENCE:.0%} of resamples of the validation images; the closest, "
                f"{runner.name}, did in {runner.beats_default:.0%} (image AUROC {runner.image_auroc:.3f} against "
                f"{row.image_auroc:.3f})")
    share = ("" if row.beats_default is None
             else f", better than today's default in {row.beats_default:.0%} of resamples")
    return (f"image AUROC {row.image_auroc:.3f}{share}; {runner.name}: {runner.image_auroc:.3f}; pixel AUROC "
            f"{row.pixel_auroc or 0:.3f}; {row.ms_per_image:.0f} ms an image")


def _plain(value):
    return list(value) if isinstance(value, tuple) else value
