"""Print a benchmark table (rich) and write it as CSV under bench-out/."""

from __future__ import annotations

import csv
from pathlib import Path


def emit(rows: list[dict], title: str, csv_name: str) -> Path:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in rows[0]:
        table.add_column(col)
    for row in rows:
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row.values()])
    Console(width=max(120, 14 * len(rows[0]))).print(table)
    out = Path("bench-out") / csv_name
    out.parent.mkdir(exist_ok=True)
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {out}")
    return out
