"""Generation: deterministic bytes, one escaping path, papermill-ready notebooks."""

from __future__ import annotations

import json
import random

import nbformat
import pytest
import rdflib

from mlprov_rdf import generate
from mlprov_rdf.generate import PyCode, py_literal
from mlprov_rdf.plan import from_graph, load
from tests.conftest import make_plan


@pytest.fixture
def plan_file(tmp_path):
    return make_plan(tmp_path / "iris.ttl")


def test_same_plan_in_any_serialization_or_triple_order_gives_identical_bytes(plan_file, tmp_path):
    reference = generate.notebook_bytes(load(plan_file).plan)
    graph = rdflib.Graph().parse(plan_file)
    for fmt, ext in (("json-ld", "jsonld"), ("nt", "nt"), ("xml", "rdf"), ("turtle", "ttl")):
        other = tmp_path / f"iris-copy.{ext}"
        other.write_text(graph.serialize(format=fmt))
        assert generate.notebook_bytes(load(other).plan) == reference, fmt
    lines = graph.serialize(format="nt").splitlines()
    for seed in range(3):
        random.Random(seed).shuffle(lines)
        shuffled = tmp_path / f"shuffled-{seed}.nt"
        shuffled.write_text("\n".join(lines) + "\n")
        assert generate.notebook_bytes(load(shuffled).plan) == reference


def test_notebook_has_parameters_cell_and_step_cells_with_ids_from_iris(plan_file):
    plan = load(plan_file).plan
    nb = nbformat.reads(generate.notebook_bytes(plan).decode(), as_version=4)
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "epochs = 100" in tagged[0].source
    code_steps = [c for c in nb.cells if c.cell_type == "code" and "step" in c.metadata.get("mlprov", {})]
    assert [c.metadata["mlprov"]["step"] for c in code_steps] == [s.iri for s in plan.steps]
    ids = [c.id for c in nb.cells]
    assert len(set(ids)) == len(ids)
    assert code_steps[1].id.startswith("data-ingestion-")
    assert nb.metadata["mlprov"]["plan"] == plan.iri


def test_plan_text_reaches_code_only_as_literals(tmp_path):
    plan_file = make_plan(tmp_path / "evil.ttl")
    evil = "x' ); import os; os.system('touch pwned'); ('"
    text = plan_file.read_text().replace('dcterms:title "Iris test plan"', f"dcterms:title {json.dumps(evil)}")
    text = text.replace('rdfs:label "Load the data"', 'rdfs:label "<script>alert(1)</script>\\nimport os"')
    plan_file.write_text(text)
    nb = generate.build_notebook(load(plan_file).plan)
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert f"title={evil!r}," in setup.source
    compile(setup.source, "setup", "exec")  # still valid Python: the title stayed a string
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            assert "<script>" not in cell.source
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert "\nimport os\"" not in cell.source


def test_py_literal_round_trips_plain_values():
    for value in ["it's \"quoted\"\n", 3, 0.1, True, None, [1, 2], {"a": [1, "b"]}, ("x",)]:
        assert eval(py_literal(value)) == value  # noqa: S307 - checking the literal itself


def test_py_literal_refuses_anything_but_data():
    with pytest.raises(TypeError):
        py_literal(object())
    with pytest.raises(ValueError):
        py_literal(float("nan"))


def test_templates_cannot_print_a_value_without_the_escaping_filter(tmp_path):
    env = generate._environment(tmp_path)
    (tmp_path / "raw.j2").write_text("x = {{ value }}")
    (tmp_path / "safe.j2").write_text("x = {{ value|py }}")
    with pytest.raises(TypeError, match="without the |py filter"):
        env.get_template("raw.j2").render(value="1; import os")
    assert env.get_template("safe.j2").render(value="1; import os") == "x = '1; import os'"
    assert isinstance(py_literal("a"), PyCode)


def test_stored_plan_graph_gives_the_same_notebook_as_the_file(plan_file):
    loaded = load(plan_file)
    graph = rdflib.Graph()
    for s, p, o in loaded.graph:  # the way stores return strings: with xsd:string
        if isinstance(o, rdflib.Literal) and o.datatype is None and o.language is None:
            o = rdflib.Literal(str(o), datatype=rdflib.XSD.string)
        graph.add((s, p, o))
    again = from_graph(graph, source="stored")
    assert generate.notebook_bytes(again) == generate.notebook_bytes(loaded.plan)


def test_cell_headings_carry_the_plans_own_step_numbers(tmp_path):
    plan_file = make_plan(tmp_path / "iris.ttl")
    text = plan_file.read_text()
    for position in range(7, 0, -1):  # 1..7 become 10..70
        text = text.replace(f"mlprov:position {position} ", f"mlprov:position {position * 10} ")
        text = text.replace(f"mlprov:position {position} .", f"mlprov:position {position * 10} .")
    plan_file.write_text(text)
    notebook = generate.build_notebook(load(plan_file).plan)
    headings = [c.source.splitlines()[0] for c in notebook.cells if c.cell_type == "markdown"][1:]
    assert headings[:3] == ["## 10. Set up", "## 20. Load the data", "## 30. Prepare the data"]
    assert headings[-1] == "## 70. Evaluate the model"
