"""Input checks with messages that say what was wrong, in the scikit-learn manner."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


def check_texts(texts: Any, name: str = "texts") -> list[str]:
    """A list of strings; None and NaN become "" (an empty answer), anything else is an error."""
    if isinstance(texts, str):
        raise TypeError(f"{name} should be a list of strings, not one string")
    try:
        items = list(texts)
    except TypeError:
        raise TypeError(f"{name} should be a list of strings, got {type(texts).__name__}") from None
    out = []
    for i, t in enumerate(items):
        if t is None or (isinstance(t, float) and np.isnan(t)):
            out.append("")
        elif isinstance(t, str):
            out.append(t)
        else:
            raise TypeError(f"{name}[{i}] should be a string, got {type(t).__name__}: {t!r:.40}")
    return out


def check_label_matrix(Y: Any, n_rows: int | None = None, name: str = "Y") -> np.ndarray:
    """An n×k matrix of 0/1 as int8."""
    arr = np.asarray(Y)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} should be a 2-D array of 0/1 (texts × codes), got shape {arr.shape}"
        )
    if n_rows is not None and arr.shape[0] != n_rows:
        raise ValueError(f"{name} has {arr.shape[0]} rows but there are {n_rows} texts")
    values = np.unique(arr)
    if not np.isin(values, [0, 1]).all():
        raise ValueError(f"{name} should hold only 0 and 1, found {values[:5].tolist()}")
    return arr.astype(np.int8)


def check_same_length(*named: tuple[str, Iterable]) -> None:
    lengths = {name: len(list(values)) for name, values in named}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k} has {v}" for k, v in lengths.items())
        raise ValueError(f"inputs should have the same length: {detail}")
