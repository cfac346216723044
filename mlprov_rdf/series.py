"""A per-epoch series as one ``rdf:JSON`` literal, not one evaluation node per epoch.

A training loss over 100 epochs as nodes was about half of a run's quads. Its literal is
``{"epochs":[1,2,...],"values":[...]}``: keys in that order, no spaces, each double as
``repr`` writes it, so that it reads back to the same float and the same series always
gives the same text. Capture journals the epochs of each flush as a chunk
(``mlprov:seriesChunk``), so the append-only journal never rewrites a line and a killed
kernel keeps what it flushed; ingest merges a run's chunks, in journal order, into one
``mlprov:series`` (see docs/data-model.md). The standard library only: capture imports it.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from typing import Any, Iterable

from .vocab import MLPROV, RDF

#: The end of a series node's IRI, after the measure, split and class (``.../metric/training_loss/train/series``).
SERIES_SEGMENT = "/series"
#: Non-finite doubles, which JSON cannot hold, as the texts float() reads back.
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
_FROM_TEXT = frozenset(_NON_FINITE.values())
#: The epochs of a journal line holding a chunk, as :func:`literal` writes it in N-Triples.
_CHUNK_EPOCHS = re.compile(rb"<" + re.escape(MLPROV.encode()) + rb'seriesChunk> "\{\\"epochs\\":\[([0-9,]*)\]')


def encode(points: Iterable[tuple[int, Any]]) -> str:
    """The JSON text of a series, points as (epoch, value), in the order given."""
    epochs, values = [], []
    for epoch, value in points:
        epochs.append(int(epoch))
        # A double as a float (json writes float's repr: exact); integers, text and booleans as they are.
        if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
            value = float(value)
            if not math.isfinite(value):  # JSON has no NaN or infinity: a diverged loss is the text JSON readers know
                value = _NON_FINITE[str(value)]
        values.append(value)
    return json.dumps({"epochs": epochs, "values": values}, separators=(",", ":"))


def literal(points: Iterable[tuple[int, Any]]) -> str:
    """A series as an ``rdf:JSON`` literal in N-Triples form (JSON text is ASCII: only
    backslashes and quotes need escaping)."""
    text = encode(points).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"^^<{RDF}JSON>'


def decode(text: str | dict) -> list[tuple[int, float]]:
    """A series literal's points as (epoch, value), in its order; ``text`` may be its JSON parsed."""
    data = json.loads(text) if isinstance(text, str) else text
    return [(epoch, float(value) if isinstance(value, str) and value in _FROM_TEXT else value)
            for epoch, value in zip(data["epochs"], data["values"])]


def merged(chunks: Iterable[list[tuple[int, Any]]]) -> list[tuple[int, Any]]:
    """The decoded chunks of one series, in journal order, as one series in epoch order: a
    later value for an epoch wins (a training cell run again by hand)."""
    points: dict[int, Any] = {}
    for chunk in chunks:
        points.update(chunk)
    return sorted(points.items())


def points(series: str | dict | None, epoch: Any, value: Any) -> list[tuple[int, Any]]:
    """The points of one per-epoch evaluation node: its series when it has one, else the
    one epoch and value of a node an earlier mlprov wrote per epoch."""
    if series is not None:
        return decode(series)
    return [] if epoch is None or value is None else [(int(epoch), value)]



def journaled_epochs(lines: bytes) -> list[int]:
    """The epochs of the series chunks in whole journal lines (capture's, as they arrive),
    read from the text without parsing the lines."""
    return [int(e) for chunk in _CHUNK_EPOCHS.findall(lines) for e in chunk.split(b",") if e]
