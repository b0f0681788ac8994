"""The validation report a quality engineer attaches to a release: one self-contained HTML file (the score
histogram, the ROC curve and the thumbnails of escapes and false alarms embedded as PNG), written
atomically.  Written by ``hamacho eval`` (``report.html``) and the GUI's *File > Export validation report*.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from hamacho_core import __version__, fileio
from hamacho_core.imageio import read_image
from hamacho_core.validation import Validation

#: Thumbnails shown per list (escapes, false alarms); the rest are listed by name.
MAX_THUMBNAILS = 24
THUMBNAIL_PX = 220  #: longest side of a thumbnail


@dataclass
class Thumbnail:
    name: str
    caption: str
    png: bytes


@dataclass
class ReportContent:
    """What the report shows; ``facts`` are (label, value) rows about the model and the data."""

    title: str
    facts: list[tuple[str, str]]
    validation: Validation
    scores: np.ndarray
    labels: np.ndarray
    image_threshold: float
    review_threshold: float | None = None
    metrics: list[str] = field(default_factory=list)
    escapes: list[Thumbnail] = field(default_factory=list)
    false_alarms: list[Thumbnail] = field(default_factory=list)


def histogram_figure(scores: np.ndarray, labels: np.ndarray, threshold: float, review: float | None = None):
    """Good and defective image scores with the threshold line (a matplotlib ``Figure``, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    scores, labels = np.asarray(scores, np.float64), np.asarray(labels)
    finite = np.isfinite(scores)
    scores, labels = scores[finite], labels[finite]
    fig = Figure(figsize=(7, 4), dpi=100)
    ax = fig.add_subplot()
    bins = np.histogram_bin_edges(np.r_[scores, threshold], bins=30)
    for value, name, colour in ((0, "good", "tab:green"), (1, "defective", "tab:red"), (-1, "no label", "tab:grey")):
        if (labels == value).any():
            ax.hist(scores[labels == value], bins=bins, alpha=0.6, label=name, color=colour)
    ax.axvline(threshold, color="black", ls="--", label=f"threshold {threshold:.3g}")
    if review is not None:
        ax.axvline(review, color="tab:orange", ls=":", label=f"review {review:.3g}")
    ax.set(xlabel="raw image score", ylabel="images", title="Score histogram")
    ax.yaxis.get_major_locator().set_params(integer=True)  # counts of images: no 0.25 ticks
    ax.legend()
    return fig


def roc_figure(scores: np.ndarray, labels: np.ndarray):
    """The image-level ROC curve of labelled scores, or None without both classes."""
    from matplotlib.figure import Figure

    from hamacho_core.metrics import _auroc, roc

    known = np.asarray(labels) >= 0
    truth, scores = np.asarray(labels)[known].astype(bool), np.nan_to_num(np.asarray(scores, np.float64)[known],
                                                                            nan=np.inf)
    if truth.all() or not truth.any():
        return None
    fpr, tpr, _ = roc(truth, scores)
    fig = Figure(figsize=(4.2, 4), dpi=100)
    ax = fig.add_subplot()
    ax.plot(fpr, tpr, lw=2, label=f"AUROC {_auroc(truth, scores):.3f}")
    ax.plot([0, 1], [0, 1], ls="--", color="grey")
    ax.set(xlabel="False positive rate (good flagged)", ylabel="True positive rate (defects found)",
           title="ROC (image level)")
    ax.legend(loc="lower right")
    return fig


def figure_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def thumbnail(model, path: Path, anomaly_map: np.ndarray | None = None, judge=None, caption: str = "") -> Thumbnail:
    """``path`` with the model's heatmap and predicted outline (``anomaly_map`` at the model's input size;
    predicted again when None), at most :data:`THUMBNAIL_PX` on its longest side, as PNG."""
    from hamacho_core.outputs import full_size_maps
    from hamacho_core.visualize import render_overlay

    judge = judge or model.judge
    rgb = read_image(path)
    if anomaly_map is None:
        anomaly_map = model.predict(rgb, judge=judge).anomaly_maps[0]
    h, w = rgb.shape[:2]
    norm, predicted = full_size_maps(model, anomaly_map, h, w, judge)
    picture = render_overlay(rgb, norm, predicted)
    scale = THUMBNAIL_PX / max(h, w)
    if scale < 1:
        picture = cv2.resize(picture, (max(1, round(w * scale)), max(1, round(h * scale))),
                             interpolation=cv2.INTER_AREA)
    ok, png = cv2.imencode(".png", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"could not encode a thumbnail of {path}")
    return Thumbnail(f"{path.parent.name}/{path.name}", caption, png.tobytes())


def thumbnails(model, paths: Sequence[Path], scores: Sequence[float], maps: Sequence[np.ndarray | None] | None = None,
               judge=None) -> list[Thumbnail]:
    """Thumbnails of the first :data:`MAX_THUMBNAILS` of ``paths``; an unreadable image is captioned, not fatal."""
    out = []
    for i, path in enumerate(list(paths)[:MAX_THUMBNAILS]):
        caption = f"score {scores[i]:.4g}"
        try:
            out.append(thumbnail(model, Path(path), None if maps is None else maps[i], judge, caption))
        except (OSError, ValueError) as exc:
            out.append(Thumbnail(f"{Path(path).parent.name}/{Path(path).name}", f"{caption}; not shown: {exc}", b""))
    return out


def model_facts(model, model_path: Path | None = None, training: dict | None = None) -> list[tuple[str, str]]:
    """The rows that say which model was judged: file, kind, backbone, input, thresholds, training data
    (``training``: what the fit recorded; default the model file's)."""
    training = training or (model.manifest or {}).get("training") or {}
    judge = model.judge
    rows = [("Model file", str(model_path) if model_path else "not saved"),
            ("Model", f"{model.kind} on {model.config.backbone} ({', '.join(model.layers)})"),
            ("Input", f"{model.preprocess.width} x {model.preprocess.height} px, geometry {model.config.geometry}"),
            ("Image threshold", f"{judge.image:.6g}" + (f" (review from {judge.review:.6g})" if judge.review else "")),
            ("Pixel threshold", f"{judge.pixel:.6g}")]
    if training.get("n_train"):
        rows.append(("Trained on", f"{training['n_train']} good images of {training.get('dataset', '?')}"))
    if isinstance(training.get("auto"), dict) and training["auto"].get("winner"):
        rows.append(("Settings", f"chosen automatically: {training['auto']['winner']}"))
    return rows


def build_content(model, paths: Sequence[Path], scores: Sequence[float], labels: Sequence[int], *,
                  maps: Sequence[np.ndarray | None] | None = None, judge=None, model_path: Path | None = None,
                  facts: Sequence[tuple[str, str]] = (), metrics: Sequence[str] = (),
                  training: dict | None = None) -> ReportContent:
    """The report of judged images (their raw ``scores``, ``labels`` 1/0/-1 and, when kept, ``maps`` at the
    model's input size) at ``judge``'s thresholds (default the model's); escapes and false alarms get
    thumbnails (judged again where no map is given)."""
    from hamacho_core.validation import synthetic_from_auto, validate

    judge = judge or model.judge
    paths, scores = [Path(p) for p in paths], np.asarray(scores, np.float64)
    training = training or (model.manifest or {}).get("training") or {}
    auto = training.get("auto")
    v = validate(scores, labels, judge, names=[f"{p.parent.name}/{p.name}" for p in paths],
                 synthetic=synthetic_from_auto(auto) if judge.image == model.judge.image else None)

    def pick(indices):
        return ([paths[i] for i in indices], [float(scores[i]) for i in indices],
                None if maps is None else [maps[i] for i in indices])

    return ReportContent(
        title=f"Validation report: {model_path.name if model_path else model.kind}",
        facts=model_facts(model, model_path, training) + [("Judged", f"{len(paths)} images")] + list(facts),
        validation=v, scores=scores, labels=np.asarray(labels), image_threshold=judge.image,
        review_threshold=judge.review, metrics=list(metrics),
        escapes=thumbnails(model, *pick(v.escapes), judge=judge),
        false_alarms=thumbnails(model, *pick(v.false_alarms), judge=judge))


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _gallery(title: str, names: list[str], thumbs: list[Thumbnail]) -> str:
    if not names:
        return f"<h2>{html.escape(title)}</h2><p>None.</p>"
    cells = "".join(f"<figure>{_img(t.png, t.name) if t.png else ''}<figcaption>{html.escape(t.name)}<br>"
                    f"{html.escape(t.caption)}</figcaption></figure>" for t in thumbs)
    rest = names[len(thumbs):]
    more = f"<p>Also: {html.escape(', '.join(rest))}</p>" if rest else ""
    return f"<h2>{html.escape(title)} ({len(names)})</h2><div class=gallery>{cells}</div>{more}"


_STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse}td{padding:2px 12px 2px 0;vertical-align:top}
.summary{font-size:1.2em;background:#f4f4f4;padding:.6em 1em;border-left:6px solid #c62828}
.summary.clean{border-left-color:#1b8a3a}.gallery{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:0;width:230px}.figures{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
.figures img{max-width:540px;height:auto}figcaption{font-size:.85em;word-break:break-all}
pre{background:#f4f4f4;padding:.5em}"""


def render_html(content: ReportContent) -> str:
    """The report as one HTML page (no external files, no scripts)."""
    v = content.validation
    clean = not v.escapes and v.dominant < 0
    facts = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(val))}</td></tr>" for k, val in content.facts)
    summary = "".join(f"<p>{html.escape(line)}</p>" for line in v.lines())
    figures = [_img(figure_png(histogram_figure(content.scores, content.labels, content.image_threshold,
                                                content.review_threshold)), "score histogram")]
    roc = roc_figure(content.scores, content.labels)
    if roc is not None:
        figures.append(_img(figure_png(roc), "ROC curve"))
    metrics = f"<h2>Metrics</h2><pre>{html.escape(chr(10).join(content.metrics))}</pre>" if content.metrics else ""
    when = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return (f"<!DOCTYPE html><html><head><meta charset=utf-8><title>{html.escape(content.title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(content.title)}</h1>"
            f"<p>Hamacho {__version__}, {html.escape(when)}</p><table>{facts}</table>"
            f"<h2>In plain words</h2><div class=\"summary{' clean' if clean else ''}\">{summary}</div>"
            f"<h2>Scores</h2><div class=figures>{''.join(figures)}</div>{metrics}"
            + _gallery("Defects that would pass as OK", v.escape_names, content.escapes)
            + _gallery("Good images that would be rejected", v.false_alarm_names, content.false_alarms)
            + "</body></html>")


def write_report(path: str | Path, content: ReportContent) -> Path:
    """Write :func:`render_html` of ``content`` to ``path`` atomically (an existing report is replaced only
    once the new one is complete)."""
    return fileio.atomic_write_bytes(Path(path), render_html(content).encode("utf-8"))
