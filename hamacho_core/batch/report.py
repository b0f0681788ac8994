"""A one-file HTML summary of a batch's results: counts, a score histogram, the top NG thumbnails."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

THUMB_SIDE = 160


def _png_of_histogram(scores: np.ndarray, verdicts: list[str]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hamacho_core.thresholds import VERDICT_COLOURS

    fig, ax = plt.subplots(figsize=(7, 3), dpi=100)
    bins = np.linspace(0.0, max(1.0, float(scores.max()) if scores.size else 1.0), 41)
    for verdict in ("OK", "REVIEW", "NG"):
        chosen = scores[np.array([v == verdict for v in verdicts], bool)] if scores.size else scores
        if chosen.size:
            ax.hist(chosen, bins=bins, color=VERDICT_COLOURS[verdict], label=f"{verdict} ({chosen.size})", alpha=0.85)
    ax.axvline(0.5, color="black", linestyle="--", linewidth=1)
    ax.set_xlabel("normalised score (0.5 = the NG threshold)")
    ax.set_ylabel("images")
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _thumbnail(path: str) -> str | None:
    """A JPEG thumbnail as a data URL, or None for an image that cannot be read any more."""
    import cv2

    from hamacho_core.dataset import checked_image

    image, reason = checked_image(Path(path))
    if reason:
        return None
    if image.dtype != np.uint8:
        image = (image / max(1, int(image.max())) * 255).astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    image = image[..., :3]
    h, w = image.shape[:2]
    f = THUMB_SIDE / max(h, w)
    small = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return f"data:image/jpeg;base64,{base64.b64encode(data.tobytes()).decode()}" if ok else None


def write_report(table, target: Path, *, title: str = "Hamacho batch", top: int = 12) -> Path:
    """``target`` (HTML, self-contained, written atomically) for a results table (``ResultStore.table``,
    these columns: path, verdict, normalized_score, error, evidence); the columns are read as arrays, the
    rows only for the top images and the first 50 errors."""
    from hamacho_core.fileio import atomic_write_bytes

    verdict_col = np.array(table.column("verdict").to_pylist(), dtype=object)
    error_col = table.column("error").is_null().to_numpy(zero_copy_only=False)  # True: judged
    scores_all = table.column("normalized_score").to_numpy(zero_copy_only=False)
    scores, verdicts = scores_all[error_col].astype(float), list(verdict_col[error_col])
    counts = {v: int(np.sum(verdict_col[error_col] == v)) for v in ("OK", "NG", "REVIEW")}
    n_rows, n_errors = table.num_rows, int(np.sum(~error_col))
    histogram = base64.b64encode(_png_of_histogram(scores, verdicts)).decode()
    flagged = np.flatnonzero(error_col & (verdict_col != "OK"))
    worst_idx = flagged[np.argsort(-scores_all[flagged].astype(float), kind="stable")[:top]]
    worst = table.take(worst_idx).select(["path", "verdict", "normalized_score", "evidence"]).to_pylist()
    errors = table.filter(table.column("error").is_valid()).slice(0, 50).select(["path", "error"]).to_pylist()
    cells = []
    for r in worst:
        shown = r["evidence"] if r["evidence"] and not r["evidence"].startswith("not written") else r["path"]
        url = _thumbnail(shown)
        picture = f'<img src="{url}" alt="">' if url else "<div>(unreadable now)</div>"
        cells.append(f'<figure>{picture}<figcaption>{html.escape(r["verdict"])} {r["normalized_score"]:.2f}<br>'
                     f'{html.escape(Path(r["path"]).name)}</figcaption></figure>')
    error_items = "".join(f"<li>{html.escape(r['path'])}: {html.escape(r['error'])}</li>" for r in errors)
    more = f" (the first {len(errors)} of {n_errors})" if n_errors > len(errors) else ""
    text = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}} figure{{display:inline-block;margin:6px;width:{THUMB_SIDE + 10}px;
font-size:12px;word-break:break-all}} td,th{{padding:2px 12px;text-align:right}}</style></head><body>
<h1>{html.escape(title)}</h1>
<table><tr><th>images</th><th>OK</th><th>NG</th><th>REVIEW</th><th>errors</th></tr>
<tr><td>{n_rows}</td><td>{counts["OK"]}</td><td>{counts["NG"]}</td><td>{counts["REVIEW"]}</td>
<td>{n_errors}</td></tr></table>
<h2>Scores</h2><img src="data:image/png;base64,{histogram}" alt="score histogram">
<h2>Highest-scoring NG and REVIEW images (top {len(worst)})</h2>{"".join(cells) or "<p>none</p>"}
<h2>Errors{more}</h2>{f"<ul>{error_items}</ul>" if errors else "<p>none</p>"}
</body></html>
"""
    atomic_write_bytes(target, text.encode("utf-8"))
    return target
