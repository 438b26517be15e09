"""The record of what an ingestion kept and dropped, stored with the data.

Every input row is either kept or listed here with the reason it was dropped, so a user
can account for every row of their table.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class DroppedRow:
    """One input row that was not used.

    Parameters
    ----------
    row : int
        1-based data row in the input (header excluded); for matrices the spine row.
    reason : str
        Why the row was dropped, in a few words (e.g. ``"self-connection"``).
    detail : str
        Optional extra detail (the offending value, the ids involved).
    """

    row: int
    reason: str
    detail: str = ""


@dataclass
class IngestionReport:
    """Counts of rows read and kept, and every dropped row with its reason.

    Parameters
    ----------
    source : str
        The file the rows came from.
    rows_read : int
        Data rows (or matrix cells) read.
    rows_kept : int
        Rows that made it into the Dataset.
    dropped : list of DroppedRow
        Every row that did not, with its reason.
    notes : list of str
        Other facts about the ingestion (e.g. "0 marks an absent spine").
    """

    source: str
    rows_read: int = 0
    rows_kept: int = 0
    dropped: list[DroppedRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def drop(self, row: int, reason: str, detail: str = "") -> None:
        """Record one dropped row."""
        self.dropped.append(DroppedRow(row, reason, detail))

    def reasons(self) -> dict[str, int]:
        """Return the number of dropped rows per reason."""
        return dict(Counter(d.reason for d in self.dropped))

    def check_accounted(self) -> None:
        """Raise ``AssertionError`` unless every row read is kept or dropped."""
        if self.rows_kept + len(self.dropped) != self.rows_read:
            raise AssertionError(
                f"ingestion lost rows: read {self.rows_read}, kept {self.rows_kept}, "
                f"dropped {len(self.dropped)}"
            )

    def to_json(self) -> str:
        """Serialise to a JSON string (stored as a Dataset attribute)."""
        return json.dumps(
            {
                "source": self.source,
                "rows_read": self.rows_read,
                "rows_kept": self.rows_kept,
                "dropped": [vars(d) for d in self.dropped],
                "notes": self.notes,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> IngestionReport:
        """Rebuild a report from :meth:`to_json` output."""
        raw = json.loads(text)
        return cls(
            source=raw["source"],
            rows_read=raw["rows_read"],
            rows_kept=raw["rows_kept"],
            dropped=[DroppedRow(**d) for d in raw["dropped"]],
            notes=list(raw.get("notes", [])),
        )

    def lines(self, max_listed: int = 20) -> list[str]:
        """Return a short human-readable account, for printing and reports."""
        out = [
            f"{self.source}: read {self.rows_read} rows, kept {self.rows_kept}, "
            f"dropped {len(self.dropped)}"
        ]
        for reason, count in sorted(self.reasons().items()):
            out.append(f"  dropped {count} x {reason}")
        for d in self.dropped[:max_listed]:
            out.append(f"    row {d.row}: {d.reason}" + (f" ({d.detail})" if d.detail else ""))
        if len(self.dropped) > max_listed:
            out.append(f"    ... and {len(self.dropped) - max_listed} more")
        out.extend(f"  note: {n}" for n in self.notes)
        return out
