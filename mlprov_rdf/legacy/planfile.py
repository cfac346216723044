"""The plan an import writes: the task's commented scaffold with the values the file recorded."""

from __future__ import annotations

import json
import re
from typing import Any

from .. import vocab
from ..scaffold import plan_text, turtle_literal
from .mapping import Mapped
from .run import author
from .source import Source
from .values import as_text


def _turtle_value(value: Any) -> str:
    if value is None:
        return '"default"'
    if isinstance(value, (list, dict)):
        return json.dumps(json.dumps(value)) + f"^^<{vocab.RDF}JSON>"
    if isinstance(value, float) and value.is_integer():
        return repr(value)  # 1.0: still a decimal in Turtle, not an integer
    return turtle_literal(value)




def build_plan_text(src: Source, mapped: Mapped, name: str) -> str:
    info_title = src.value("ex:Experiment Info Data", "ex:title", as_=as_text) or mapped.task.title
    date = src.value("ex:Experiment Info Data", "ex:creation_date", as_=as_text)
    title = f"{info_title} (imported from MLProvCodeGen{', ' + date if date else ''})"
    text = plan_text(mapped.task, name, title, author(src)[1] or "Your Name")
    for pname, value in mapped.values.items():
        text, n = re.subn(
            rf'(mlprov:parameterName "{re.escape(pname)}" ;\n    prov:value )[^\n]+ \.',
            lambda m, v=value: f"{m.group(1)}{_turtle_value(v)} .",
            text,
        )
        if n != 1:
            raise RuntimeError(f"scaffold wrote parameter {pname} {n} times")
    header = [
        f"# Imported by 'mlprov import-mlprovcodegen' from {src.path.name} (sha256 {src.sha256[:16]}).",
        "# The values MLProvCodeGen recorded are set below; every other parameter has the task's default:",
    ]
    header += [f"#   {p} = {_turtle_value(v)}  ({mapped.origins.get(p, 'implied')})" for p, v in mapped.values.items()]
    if mapped.notes:
        header.append("# Choices the file does not state, made by the import (also the legacy run's mlprov:importNote):")
        header += [f"#   {' '.join(note.split())}" for note in mapped.notes]
    return "\n".join(header) + "\n" + text

