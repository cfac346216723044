"""Decoding one PROV-JSON attribute value, and reading what MLProvCodeGen wrote into it.

Its values are typed (``{"$": 3, "type": "xsd:int"}``), plain strings, code fragments
(``"torch.optim.Adam("``), numpy prints, or Python reprs it logged by mistake
(``"    Number of datapoints: 100>"``, ``"<method-wrapper '__len__' ...>"``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any


class Unreadable(Exception):
    """A value that cannot be read as what it must be: the caller adds which key."""


def norm(key: str) -> str:
    """``ex:Data Ingestion Data`` ≡ ``data_ingestion_data`` ≡ ``DataIngestionData``; every prefix dropped
    (``ex:dataingestion:dataset_id`` ≡ ``dataset_id``)."""
    return re.sub(r"[^a-z0-9]", "", key.rsplit(":", 1)[-1].lower())


def show_key(*path: str) -> str:
    return "".join(f"[{p!r}]" for p in path)

def short(raw: Any) -> str:
    text = json.dumps(raw, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def decode(raw: Any) -> Any:
    """One PROV-JSON attribute value as Python: typed values by their type, lists by their first."""
    if isinstance(raw, list):
        if not raw:
            return None
        raw = raw[0]
    if isinstance(raw, dict):
        if "$" not in raw:
            raise Unreadable('a typed value needs "$" and "type"')
        value, vtype = raw["$"], str(raw.get("type", "")).split(":")[-1].lower()
        try:
            if vtype in ("int", "integer", "long", "short", "byte", "nonnegativeinteger", "positiveinteger"):
                return int(value) if not isinstance(value, float) or value.is_integer() else _bad("not an integer")
            if vtype in ("double", "float", "decimal"):
                return float(value)
            if vtype == "boolean":
                return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1")
        except (TypeError, ValueError):
            raise Unreadable(f"not a valid {raw.get('type')}") from None
        return value
    return raw


def _bad(message: str):
    raise Unreadable(message)


# -- value converters (each raises Unreadable) -------------------------------------------


def as_int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    if isinstance(value, str) and (m := re.search(r"Number of datapoints:\s*(\d+)", value)):
        return int(m.group(1))  # a torchvision data set's repr: "    Number of datapoints: 100>"
    if isinstance(value, str) and (m := re.search(r"(\d+)\s*$", value)):
        return int(m.group(1))
    raise Unreadable("not an integer")


def as_float(value: Any) -> float:
    if isinstance(value, bool):
        raise Unreadable("not a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())  # "0.01" is 0.01 (MLProvCodeGen's own [0] made it 0)
        except ValueError:
            pass
    raise Unreadable("not a number")


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise Unreadable("not a boolean (true/false or 1/0)")


def as_text(value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        raise Unreadable("not text")
    return str(value)


def as_learning_rate(value: Any) -> float | None:
    """``"None"``, ``None`` or empty: the optimizer's default (None); else the number."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "", "default")):
        return None
    rate = as_float(value)
    if not rate > 0 or not math.isfinite(rate):
        raise Unreadable("a learning rate must be a number greater than 0, or None for the optimizer's default")
    return rate


def code_name(value: Any) -> str:
    """The class or function a code fragment names: ``torch.optim.Adam(`` → ``Adam``,
    ``nn.CrossEntropyLoss()`` → ``CrossEntropyLoss``, ``F.softmax(self.layer3(x), dim=1)`` → ``softmax``."""
    text = as_text(value).strip()
    m = re.match(r"^\s*([A-Za-z_][\w.]*)", text)
    if not m:
        raise Unreadable("names no class or function")
    return m.group(1).rsplit(".", 1)[-1]


def as_matrix(value: Any) -> list[list[int]]:
    """``"[[13  1  0]\\n [ 0  7  1]]"`` (numpy's print) or a JSON list → a list of rows."""
    if isinstance(value, list):
        return value
    text = as_text(value)
    rows = re.findall(r"\[([^\[\]]*)\]", text)
    try:
        matrix = [[int(float(x)) for x in re.split(r"[\s,]+", row.strip()) if x] for row in rows]
    except ValueError:
        raise Unreadable("not a matrix of counts") from None
    if not matrix or len({len(r) for r in matrix}) != 1:
        raise Unreadable("not a matrix of counts")
    return matrix


def as_vector(value: Any) -> list[float]:
    """``"[0.96296296 0.875      0.94117647]"`` (numpy's print) or a list → floats."""
    if isinstance(value, list):
        return [float(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    text = as_text(value).strip().strip("[]")
    try:
        return [float(x) for x in re.split(r"[\s,]+", text) if x]
    except ValueError:
        raise Unreadable("not a list of numbers") from None


def slug(text: str) -> str:
    """Text as an IRI segment or file stem: lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
