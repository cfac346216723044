"""Plans are graphs: the p-plan:isPrecededBy DAG orders the steps, code steps carry the
author's code, and validation checks that every step finds the names it needs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import rdflib

from mlprov_rdf import generate, workflow
from mlprov_rdf.errors import UserError
from mlprov_rdf.plan import load
from mlprov_rdf.store import StoreLocation, open_store
from tests.conftest import make_plan

PLAN = "https://example.org/plans/plan"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _without_positions(path: Path) -> None:
    text = re.sub(r"\n    mlprov:position \d+ ;", "", path.read_text())
    path.write_text(re.sub(r" ;\n    mlprov:position \d+ \.", " .", text))


def _code_step(name: str, code: str, *, after: str, extra: str = "") -> str:
    return (
        f'\n:{name} a mlprov:CodeStep ; rdfs:label "{name}" ; p-plan:isStepOfPlan <{PLAN}> ;\n'
        f"    p-plan:isPrecededBy :{after} ;\n    mlprov:code {json.dumps(code)}{extra} .\n"
    )


def _add(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def _follow(path: Path, step: str, new_predecessor: str) -> None:
    text = path.read_text()
    start = text.index(f"\n:{step} a mlprov:")
    end = text.index("\n\n", start + 1)
    block, n = re.subn(r"p-plan:isPrecededBy :[a-z-]+", f"p-plan:isPrecededBy :{new_predecessor}", text[start:end])
    assert n == 1, step
    path.write_text(text[:start] + block + text[end:])


def _order(path: Path) -> list[str]:
    return [s.iri.rsplit("#", 1)[1] for s in load(path).plan.steps]


def _refusal(path: Path) -> str:
    with pytest.raises(UserError) as caught:
        load(path)
    return str(caught.value)


@pytest.fixture
def plan_file(tmp_path) -> Path:
    return make_plan(tmp_path / "plan.ttl")


def test_positions_are_optional_and_the_graph_alone_orders_the_steps(plan_file):
    before = _order(plan_file)
    _without_positions(plan_file)
    assert "mlprov:position" not in plan_file.read_text()
    assert _order(plan_file) == before


def test_a_step_may_follow_several_and_unordered_steps_go_by_iri(plan_file):
    _without_positions(plan_file)
    _add(plan_file, _code_step("b-second", "b = 2", after="data-ingestion"))
    _add(plan_file, _code_step("a-first", "a = 1", after="data-ingestion"))
    _edit(plan_file, "p-plan:isPrecededBy :data-ingestion", "p-plan:isPrecededBy :a-first, :b-second")
    order = _order(plan_file)
    assert order[:5] == ["setup", "data-ingestion", "a-first", "b-second", "data-preparation"]


def test_positions_break_ties_the_graph_leaves_and_must_agree_with_it(plan_file):
    _without_positions(plan_file)
    _add(plan_file, _code_step("a-first", "a = 1", after="data-ingestion", extra=" ;\n    mlprov:position 20"))
    _add(plan_file, _code_step("b-second", "b = 2", after="data-ingestion", extra=" ;\n    mlprov:position 10"))
    assert _order(plan_file).index("b-second") < _order(plan_file).index("a-first")
    _edit(plan_file, "p-plan:isPrecededBy :data-ingestion ;\n    mlprov:code \"b = 2\"",
          "p-plan:isPrecededBy :a-first ;\n    mlprov:code \"b = 2\"")
    assert "higher position than the steps it follows" in _refusal(plan_file)


def test_a_cycle_is_refused_and_named(plan_file):
    _follow(plan_file, "data-ingestion", "evaluation")
    message = _refusal(plan_file)
    assert "form a cycle" in message and "plan#evaluation>" in message


def test_a_reordered_plan_is_refused_with_the_name_a_step_misses(plan_file):
    _without_positions(plan_file)
    _follow(plan_file, "model-definition", "data-ingestion")  # before the split that makes X_train
    _follow(plan_file, "data-preparation", "model-definition")
    message = _refusal(plan_file)
    assert re.search(r"step <\S+#model-definition> needs '\w+', which no step before it provides", message), message
    assert "make <https://example.org/plans/plan#model-definition> follow it" in message


def test_the_first_step_must_be_the_one_that_starts_recording(plan_file):
    _without_positions(plan_file)
    _add(plan_file, _code_step("early", "x = 1", after="setup"))
    _edit(plan_file, "    p-plan:isPrecededBy :setup ;\n    mlprov:code", "    mlprov:code")
    message = _refusal(plan_file)
    assert "comes before <https://example.org/plans/plan#setup>" in message and "starts recording" in message


def test_a_second_step_of_an_unrepeatable_class_is_refused(plan_file):
    _add(plan_file, f'\n:training-again a mlprov:TrainingStep ; p-plan:isStepOfPlan <{PLAN}> ; '
                    "p-plan:isPrecededBy :training .\n")
    _without_positions(plan_file)
    assert "repeats mlprov:TrainingStep" in _refusal(plan_file)


def test_a_code_step_syntax_error_names_plan_step_and_line(plan_file):
    _add(plan_file, _code_step("broken", "x = 1\nif x\n    y = 2", after="evaluation"))
    _without_positions(plan_file)
    message = _refusal(plan_file)
    assert str(plan_file) in message and "code step <https://example.org/plans/plan#broken>" in message and "line 2 of its mlprov:code" in message


def test_a_code_step_reading_a_name_no_step_provides_is_refused(plan_file):
    _add(plan_file, _code_step("reader", "total = undefined_thing + 1", after="evaluation"))
    _without_positions(plan_file)
    assert "plan#reader> needs 'undefined_thing', which no step of the plan provides" in _refusal(plan_file)


def test_a_code_step_reading_a_name_a_later_step_provides_is_refused(plan_file):
    _add(plan_file, _code_step("maker", "made = 1", after="evaluation"))
    _add(plan_file, _code_step("early-reader", "print(made)", after="training"))  # before :evaluation, by IRI
    _without_positions(plan_file)
    message = _refusal(plan_file)
    assert "plan#early-reader> needs 'made', which no step before it provides (<https://example.org/plans/plan#maker> does" in message


def test_a_declared_output_the_code_never_assigns_is_refused(plan_file):
    _add(plan_file, _code_step("counter", "count = 3", after="evaluation", extra=" ;\n    p-plan:hasOutputVar :total"))
    _add(plan_file, f'\n:total a p-plan:Variable ; p-plan:isVariableOfPlan <{PLAN}> ; mlprov:parameterName "total" .\n')
    _without_positions(plan_file)
    assert "declares output 'total'" in _refusal(plan_file)


def test_code_step_inputs_join_the_parameters_cell_and_task_names_are_refused(plan_file):
    _add(plan_file, _code_step("scaled", "scaled_epochs = epochs * factor", after="evaluation",
                               extra=" ;\n    p-plan:hasInputVar :factor"))
    _add(plan_file, f'\n:factor a p-plan:Variable ; p-plan:isVariableOfPlan <{PLAN}> ; '
                    'mlprov:parameterName "factor" ; prov:value 3 .\n')
    _without_positions(plan_file)
    notebook = generate.build_notebook(load(plan_file).plan)
    parameters = next(c.source for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    assert "\nfactor = 3  #" in parameters and "\nepochs = 100  #" in parameters
    code_cell = next(c for c in notebook.cells if c.cell_type == "code" and c.metadata["mlprov"].get("code_step"))
    assert code_cell.source.endswith("\nscaled_epochs = epochs * factor")
    assert "mlprov-code-step" in code_cell.metadata["tags"]
    _edit(plan_file, "p-plan:hasInputVar :seed, ", "p-plan:hasInputVar ")  # the plan leaves seed to its default
    plan_file.write_text(re.sub(r"\n:seed a p-plan:Variable.*?\.\n", "\n", plan_file.read_text(), count=1, flags=re.S))
    _edit(plan_file, 'mlprov:parameterName "factor"', 'mlprov:parameterName "seed"')
    assert "task multiclass-classification has a parameter of this name" in _refusal(plan_file)


def test_code_file_text_and_sha256_travel_with_the_stored_plan(plan_file, tmp_path):
    code = tmp_path / "steps" / "extra.py"
    code.parent.mkdir()
    code.write_text("extra_value = len(X_test)\n")
    _add(plan_file, f'\n:extra a mlprov:CodeStep ; p-plan:isStepOfPlan <{PLAN}> ; p-plan:isPrecededBy :evaluation ;\n'
                    '    mlprov:codeFile "steps/extra.py" .\n')
    _without_positions(plan_file)
    loaded = load(plan_file)
    step = loaded.plan.steps[-1]
    assert step.code == "extra_value = len(X_test)\n" and step.code_file == "steps/extra.py"
    node = rdflib.URIRef(step.iri)
    mlprov = rdflib.Namespace("https://w3id.org/mlprov#")
    assert str(loaded.graph.value(node, mlprov.codeSha256)) == step.code_sha256
    location = StoreLocation(tmp_path / "store")
    first = tmp_path / "first.ipynb"
    workflow.generate_notebook(plan_file, first, location)
    code.unlink()  # the stored plan carries the code: no file needed to regenerate
    again = tmp_path / "again.ipynb"
    workflow.regenerate(loaded.plan.iri, again, location)
    assert again.read_bytes() == first.read_bytes()
    assert "mlprov:codeFile 'steps/extra.py': no such file" in _refusal(plan_file)
    code.write_text("extra_value = len(X_train)\n")
    assert load(plan_file).plan.digest != loaded.plan.digest  # a changed file is a changed plan


def test_code_and_code_file_together_are_refused(plan_file, tmp_path):
    (tmp_path / "x.py").write_text("x = 1\n")
    _add(plan_file, _code_step("both", "x = 1", after="evaluation", extra=' ;\n    mlprov:codeFile "x.py"'))
    _without_positions(plan_file)
    assert "give its code one way" in _refusal(plan_file)


def test_a_dag_plan_gives_identical_bytes_whatever_its_serialization(plan_file, tmp_path):
    _without_positions(plan_file)
    _add(plan_file, _code_step("b-second", "b = 2", after="data-ingestion"))
    _add(plan_file, _code_step("a-first", "a = 1", after="data-ingestion"))
    _edit(plan_file, "p-plan:isPrecededBy :data-ingestion", "p-plan:isPrecededBy :a-first, :b-second")
    graph = rdflib.Graph().parse(plan_file, format="turtle")
    triples = tmp_path / "plan.nt"
    lines = graph.serialize(format="nt").strip().splitlines()
    triples.write_text("\n".join(reversed(sorted(lines))) + "\n")
    assert generate.notebook_bytes(load(triples).plan) == generate.notebook_bytes(load(plan_file).plan)


def test_a_code_step_with_two_sources_is_refused_by_the_shapes(plan_file):
    _add(plan_file, _code_step("twice", "x = 1", after="evaluation", extra=' ;\n    mlprov:code "x = 2"'))
    _without_positions(plan_file)
    assert "at most one mlprov:code" in _refusal(plan_file)


def _run(plan_file: Path, tmp_path: Path):
    location = StoreLocation(tmp_path / "store")
    outcome = workflow.run(plan_file, location, output=tmp_path / "run.ipynb")
    assert outcome.ok and outcome.status == "Completed", outcome.error
    return location, outcome


def test_a_second_evaluation_step_keeps_its_own_values_beside_the_first(tmp_path):
    plan_file = make_plan(tmp_path / "plan.ttl", model='"logistic_regression"')
    _add(plan_file, _code_step("noisy", "X_test = X_test + np.random.default_rng(0).normal(0.0, 2.0, X_test.shape)",
                               after="evaluation"))
    _add(plan_file, f'\n:evaluation-noisy a mlprov:EvaluationStep ; rdfs:label "Evaluate on noisy data" ;\n'
                    f"    p-plan:isStepOfPlan <{PLAN}> ; p-plan:isPrecededBy :noisy .\n")
    location, outcome = _run(plan_file, tmp_path)
    with open_store(location, read_only=True) as store:
        rows = list(store.query(f"""
            PREFIX mls: <http://www.w3.org/ns/mls#> PREFIX prov: <http://www.w3.org/ns/prov#>
            PREFIX p-plan: <http://purl.org/net/p-plan#>
            SELECT ?evaluation ?value ?step WHERE {{
              ?evaluation mls:specifiedBy <https://w3id.org/mlprov#accuracy> ; mls:hasValue ?value ;
                          prov:wasGeneratedBy/p-plan:correspondsToStep ?step .
              <{outcome.run}> mls:hasOutput ?evaluation .
            }} ORDER BY ?evaluation"""))
        direct = list(store.query(f"SELECT ?v WHERE {{ <{outcome.run}> <https://w3id.org/mlprov/metric/test#accuracy> ?v }}"))
    steps = [str(r["step"].value).rsplit("#", 1)[1] for r in rows]
    assert steps == ["evaluation", "evaluation-noisy"]
    assert str(rows[1]["evaluation"].value).endswith("/metric/accuracy/test/step/9")  # the ninth step
    assert float(rows[1]["value"].value) < float(rows[0]["value"].value)  # noise costs accuracy
    assert [d["v"].value for d in direct] == [rows[0]["value"].value]  # the run's direct value: the first evaluation


def test_a_plan_without_its_optional_evaluation_step_runs_to_completed(tmp_path):
    plan_file = make_plan(tmp_path / "plan.ttl", model='"logistic_regression"')
    graph = rdflib.Graph().parse(plan_file, format="turtle")
    evaluation = rdflib.URIRef(f"{PLAN}#evaluation")
    graph.remove((evaluation, None, None))
    graph.serialize(plan_file, format="turtle")
    assert [s.spec.cls for s in load(plan_file).plan.steps][-1] == "TrainingStep"
    _run(plan_file, tmp_path)
