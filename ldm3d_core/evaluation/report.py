"""The results table: one row per evaluated model, as CSV and as Markdown (paper Tab. 1-3).

Evaluating several models into the same folder builds one table: a row whose ``model``
name is already there is replaced, others are kept. Both files are written atomically.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

from ..files import atomic_path

RESULTS_CSV = "results.csv"
RESULTS_MD = "results.md"

#: Columns in table order, with their Markdown headers (arrows: which way is better).
COLUMNS: dict[str, str] = {
    "model": "Model",
    "n": "Images",
    "fid": "FID ↓",
    "is": "IS ↑",
    "is_std": "IS std",
    "clip": "CLIP ↑",
    "clip_std": "CLIP std",
    "rfid": "rFID ↓",
    "abs_rel": "AbsRel ↓",
    "rmse": "RMSE ↓",
}


def _format(key: str, value: object) -> str:
    if value is None or value == "":
        return ""
    if key == "model":
        return str(value)
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if key == "n":
        return str(int(v))
    if not math.isfinite(v):
        return str(v)
    return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"


def _atomic_write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_results(out_dir: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The rows of ``out_dir/results.csv`` (empty when there is none)."""
    path = Path(out_dir) / RESULTS_CSV
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def markdown_table(rows: list[dict[str, object]]) -> str:
    """A Markdown table of ``rows`` with the columns any row has, in :data:`COLUMNS` order."""
    keys = [k for k in COLUMNS if any(r.get(k) not in (None, "") for r in rows)]
    keys += sorted({k for r in rows for k in r} - set(keys) - set(COLUMNS))
    lines = [
        "| " + " | ".join(COLUMNS.get(k, k) for k in keys) + " |",
        "| " + " | ".join("---" if k == "model" else "---:" for k in keys) + " |",
    ]
    lines += ["| " + " | ".join(_format(k, r.get(k)) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_results(out_dir: str | os.PathLike[str], row: dict[str, object]) -> tuple[Path, Path]:
    """Add (or replace, by ``model``) ``row`` in ``out_dir``'s results; returns (csv, md)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = [
        r for r in read_results(out) if r.get("model") != str(row.get("model"))
    ]
    rows.append({k: v for k, v in row.items() if v is not None})
    filled = {k for r in rows for k, v in r.items() if v not in (None, "")}
    keys = [k for k in COLUMNS if k in filled] + sorted(filled - set(COLUMNS))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: r.get(k, "") for k in keys})
    csv_path, md_path = out / RESULTS_CSV, out / RESULTS_MD
    _atomic_write_text(csv_path, buf.getvalue())
    _atomic_write_text(md_path, markdown_table(rows))
    return csv_path, md_path
