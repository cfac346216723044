"""What an MLProvCodeGen run measured, in the terms of the measures mlprov records.

A run imported from MLProvCodeGen (``mlprov:LegacyRun``) holds the predecessor's measures
under mlprov's measure IRIs, but not all of them are measures mlprov's templates compute:
its ``AUC`` was micro-averaged over the one-hot labels (``mlprov:roc_auc_micro``) where
mlprov records the one-vs-rest ROC AUC (``mlprov:roc_auc_ovr``); its ``Loss`` is the last
epoch's training loss only; its classes are named by index where mlprov's generated data
sets name them (``arm 0``); and no torch generator was seeded before its model was built,
so its numbers can be met only within a tolerance. ``mlprov reproduce`` and ``mlprov diff``
both compare a legacy run with a new one, so the mapping lives here, once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

def seed_note(seed: str | None) -> str:
    """Why a legacy run's numbers cannot be matched exactly: MLProvCodeGen never seeded torch
    before building its model (its image template seeds in the training cell, after it)."""
    if seed is None:
        return ("the original (MLProvCodeGen) recorded no seed and seeded no torch generator, so its weight "
                "initialisation and batch order cannot be matched: its numbers can agree only within a tolerance")
    return (f"the original (MLProvCodeGen) seeded torch with {seed} only after building its model, so its "
            "initial weights cannot be matched: its numbers can agree only within a tolerance")


@dataclass(frozen=True)
class Counterpart:
    """The measure of a new run that a legacy measure is compared with, and whether they are the same measure."""

    measure: str  # the local name of mlprov's measure
    comparable: bool
    note: str | None = None  # why they are not comparable


# The legacy measures that are not the measure of the same name in a new run.
_DIFFERENT = {
    "roc_auc_micro": (
        "roc_auc_ovr",
        "the original measured roc_auc_micro (ROC AUC micro-averaged over the one-hot labels), "
        "mlprov measures roc_auc_ovr (one-vs-rest, macro-averaged)",
    ),
}


def counterpart(measure: str, new_measures: set[str]) -> Counterpart:
    """The new run's measure for the legacy ``measure``: the same one when the new run recorded it."""
    if measure in new_measures or measure not in _DIFFERENT:
        return Counterpart(measure, True)
    ours, why = _DIFFERENT[measure]
    return Counterpart(ours, False, why)


def class_pairs(legacy_classes: set[str], new_classes: set[str]) -> dict[str, str]:
    """Each legacy class's class in the new run: the same name (``setosa``); or, where
    MLProvCodeGen named its classes by index ("0", "1") and the new run has as many classes,
    the class at that index in label order (``cluster 1`` for "0" when R15's labels start at 1)."""
    pairs = {c: c for c in legacy_classes if c in new_classes}
    if pairs or len(legacy_classes) != len(new_classes) or not all(c.isdigit() for c in legacy_classes):
        return pairs
    in_order = sorted(new_classes, key=_label_order)
    return {c: in_order[int(c)] for c in legacy_classes if int(c) < len(in_order)}


def _label_order(name: str) -> list:
    """``cluster 2`` before ``cluster 10``: the order of the labels the names were made from."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.findall(r"\d+|\D+", name)]
