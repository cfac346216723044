"""Property: no plan literal, whatever it holds, becomes code in the generated notebook.

Hypothesis puts random text (quotes, line breaks, backslashes, lone surrogates, Jinja and
IPython syntax, control and bidi characters) into every free-text literal of a real plan
(titles, labels, descriptions, free string parameters), each its own string. Either
validation refuses the plan with a ``UserError``, or the notebook is generated and:
every code cell parses; its token stream equals that of the same plan with every varied
literal set to ``"x"`` except inside string literals and comments (so the text changed no
code, no comment became code and no string ended early); each string parameter the
code reads reads back, from the parameters cell, as exactly the text the plan holds; and markdown cells
carry no raw HTML tag and no link with a scriptable scheme from plan text.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from functools import cache
from pathlib import Path

import pytest
import rdflib
from hypothesis import HealthCheck, given, settings, strategies as st
from rdflib import XSD, Literal

from mlprov_rdf import vocab
from mlprov_rdf.errors import UserError
from mlprov_rdf.generate import build_notebook
from mlprov_rdf.plan import from_graph
from mlprov_rdf.scaffold import write_plan
from mlprov_rdf.tasks import all_tasks

PARAMETER_NAME = rdflib.URIRef(vocab.MLPROV + "parameterName")
VALUE = rdflib.URIRef(vocab.PROV + "value")

FRAGMENTS = [
    "'", '"', "'''", '"""', "\\", "\\'", '\\"', "\n", "\r\n", "\r", "\t", "\x00", "\x07", "\x1b[2J",
    "\x1b]0;title\x07", "\x7f", "\x85", "\u2028", "\u2029", "\u202e", "\ufeff", "\ud800", "\udfff",
    "{{ plan }}", "{% if true %}", "{# c #}", "{{", "}}", "%%bash", "%time ", "!rm -rf /", "?", "??",
    "get_ipython().system('id')", "# ", "#", "\n#", "\nimport os\n", "__import__('os')", "); x = (",
    "<script>alert(1)</script>", "[x](javascript:alert(1))", "<img src=x onerror=alert(1)>", "&amp;",
    "${x}", "`id`", "\\N{BULLET}", "\\u0041", "f'{x}'", "é", "🧪", "∑",
]

free_text = st.lists(st.one_of(st.text(max_size=8), st.sampled_from(FRAGMENTS)), max_size=6).map("".join)

SCRIPT_LINK = re.compile(r"\]\(\s*(?:javascript|data|vbscript)\s*:", re.IGNORECASE)
HTML_TAG = re.compile(r"<\s*[A-Za-z/!]")


@cache
def plan_graph(task_name: str, folder: Path) -> rdflib.Graph:
    """The plan `mlprov init` writes for the task, parsed once."""
    path = folder / f"{task_name}.ttl"
    write_plan(all_tasks()[task_name], path, title="Property plan", author="Property Author")
    return rdflib.Graph().parse(path, format="turtle")


def free_literals(graph: rdflib.Graph, task_name: str) -> list[tuple]:
    """(subject, predicate, literal) of every literal plan text may freely hold."""
    task = all_tasks()[task_name]
    free_parameters = {p.name for p in task.parameters if p.type == "string" and not p.choices}
    out = []
    for s, p, o in sorted(graph, key=lambda t: (str(t[0]), str(t[1]), str(t[2]))):
        if not isinstance(o, Literal) or o.datatype not in (None, XSD.string) or p == PARAMETER_NAME:
            continue
        if p == VALUE and str(graph.value(s, PARAMETER_NAME)) not in free_parameters:
            continue
        out.append((s, p, o))
    return out


def with_values(graph: rdflib.Graph, slots: list[tuple], values: list[str]) -> rdflib.Graph:
    out = rdflib.Graph()
    for triple in graph:
        out.add(triple)
    for (s, p, o), value in zip(slots, values):
        out.remove((s, p, o))
        out.add((s, p, Literal(value)))
    return out


def code_shape(source: str) -> list[tuple[int, str]]:
    """The cell's tokens, with the text of string literals and comments left out."""
    hidden = (tokenize.STRING, tokenize.COMMENT)
    return [
        (tok.type, "" if tok.type in hidden else tok.string)
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
    ]


def parameter_values(notebook) -> dict[str, object]:
    """What each assignment in the parameters cell evaluates to."""
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    values = {}
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


@pytest.mark.parametrize("task_name", sorted(all_tasks()))
def test_random_text_in_every_plan_literal_never_becomes_code(task_name, tmp_path_factory):
    folder = tmp_path_factory.mktemp("property")
    graph = plan_graph(task_name, folder)
    slots = free_literals(graph, task_name)
    assert len(slots) >= 20, "the plan should have many free-text literals to vary"
    baseline = build_notebook(from_graph(with_values(graph, slots, ["x"] * len(slots)), source="baseline"))
    baseline_code = [code_shape(c.source) for c in baseline.cells if c.cell_type == "code"]
    baseline_tags = [len(HTML_TAG.findall(c.source)) for c in baseline.cells if c.cell_type == "markdown"]

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(values=st.lists(free_text, min_size=len(slots), max_size=len(slots)))
    def check(values: list[str]) -> None:
        varied = with_values(graph, slots, values)
        try:
            plan = from_graph(varied, source="property plan", base_dir=folder)
        except UserError as error:
            lines = str(error).split("\n")  # a line a problem (validation lists every problem it finds)
            assert all(line.startswith("property plan: ") for line in lines[:20]), "each problem is one line naming the plan"
            return
        notebook = build_notebook(plan)
        code = [c.source for c in notebook.cells if c.cell_type == "code"]
        for source in code:
            ast.parse(source)
        assert [code_shape(source) for source in code] == baseline_code
        read_back = parameter_values(notebook)
        for (s, p, _), value in zip(slots, values):
            name = str(graph.value(s, PARAMETER_NAME))
            if p == VALUE and name in read_back:  # a parameter the code does not read is not in the notebook
                assert read_back[name] == value
        markdown = [c.source for c in notebook.cells if c.cell_type == "markdown"]
        assert [len(HTML_TAG.findall(m)) for m in markdown] == baseline_tags
        assert not any(SCRIPT_LINK.search(m) for m in markdown)

    check()
