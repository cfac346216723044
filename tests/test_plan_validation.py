"""Bad plans: one clear line, exit 2, no traceback, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import rdflib
from click.testing import CliRunner

from mlprov_rdf.cli import main
from mlprov_rdf.generate import build_notebook, notebook_bytes
from mlprov_rdf.plan import load
from tests.conftest import make_plan

PLAN = "<https://example.org/plans/bad>"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def syntax_error(p):
    _edit(p, "mlprov:position 1 .", "mlprov:position 1")


def no_plan(p):
    _edit(p, "a p-plan:Plan, repr:Experiment ;", "a prov:Entity ;")


def two_plans(p):
    p.write_text(p.read_text() + "\n<https://example.org/plans/other> a <http://purl.org/net/p-plan#Plan> .\n")


def cycle(p):
    _edit(p, "mlprov:position 1 .", "mlprov:position 1 ;\n    p-plan:isPrecededBy :evaluation .")


def unknown_step_type(p):
    _edit(p, ":training a mlprov:TrainingStep", ":training a mlprov:FineTuningStep")


def missing_step(p):
    _edit(p, ":training a mlprov:TrainingStep", ":training a mlprov:EvaluationStep")


def ill_typed_parameter(p):
    make_plan(p, epochs='"many"')


def value_outside_allowed(p):
    make_plan(p, optimizer='"Adamm"')


def position_contradicts_order(p):
    _edit(p, "mlprov:position 3 ;", "mlprov:position 4 ;")
    _edit(p, "mlprov:position 4 ;\n    p-plan:isPrecededBy :data-preparation", "mlprov:position 3 ;\n    p-plan:isPrecededBy :data-preparation")


def code_injection_literal(p):
    make_plan(p, csv_label_column='"label\\"\\nimport os; os.system(\\"touch pwned\\")\\n#"')


def csv_path_missing(p):
    make_plan(p, dataset='"csv"', csv_path='"no-such-file.csv"')


def not_rdf(p):
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00binary")


def out_of_range(p):
    make_plan(p, test_size="1.5")


def empty_file(p):
    p.write_text("")


BAD_PLANS = {
    syntax_error: "syntax error",
    no_plan: "no plan found",
    two_plans: "2 plans",
    cycle: "cycle",
    unknown_step_type: "no template for",
    missing_step: "lacks mlprov:TrainingStep",
    ill_typed_parameter: "not an integer",
    value_outside_allowed: "'Adamm' is not allowed",
    position_contradicts_order: "p-plan:isPrecededBy",
    code_injection_literal: "line break",
    csv_path_missing: "does not exist",
    not_rdf: "not a text file",
    out_of_range: "out of range",
    empty_file: "no triples",
}

#: Spoilers that make more than one problem: a training step made an evaluation step also
#: leaves the training parameters on a step that has none of them.
PROBLEMS = {missing_step: 2}


@pytest.mark.parametrize("spoil", list(BAD_PLANS), ids=lambda f: f.__name__)
def test_bad_plan_gives_one_line_exit_2_and_writes_nothing(spoil, tmp_path):
    plan = make_plan(tmp_path / "bad.ttl")
    spoil(plan)
    out = tmp_path / "out.ipynb"
    store = tmp_path / "store"
    result = CliRunner().invoke(main, ["generate", str(plan), "-o", str(out), "--store", str(store)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    problems = PROBLEMS.get(spoil, 1)
    assert len(lines) == (1 if problems == 1 else 1 + problems), result.stderr
    assert "Traceback" not in result.output
    assert all(str(plan) in line for line in lines)
    assert any(BAD_PLANS[spoil] in line for line in lines)
    assert not out.exists()
    assert not store.exists()


def test_bad_plan_from_the_real_command_line_has_no_traceback(tmp_path):
    plan = make_plan(tmp_path / "bad.ttl", optimizer='"Adamm"')
    proc = subprocess.run(
        [sys.executable, "-m", "mlprov_rdf", "validate", str(plan)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "use one of Adam, SGD, RMSprop, Adagrad, Adadelta, Adamax" in proc.stderr


def test_default_plan_is_valid(tmp_path):
    plan = make_plan(tmp_path / "ok.ttl")
    result = CliRunner().invoke(main, ["validate", str(plan)])
    assert result.exit_code == 0, result.output
    assert "7 steps" in result.output


def test_csv_plan_with_existing_file_is_valid(tmp_path):
    (tmp_path / "data.csv").write_text("a,b,label\n1,2,x\n3,4,y\n")
    plan = make_plan(tmp_path / "csv.ttl", dataset='"csv"', csv_path='"data.csv"')
    result = CliRunner().invoke(main, ["validate", str(plan)])
    assert result.exit_code == 0, result.output


def test_a_plan_with_a_utf8_bom_validates_and_gives_the_same_notebook(tmp_path):
    plain = make_plan(tmp_path / "iris.ttl")
    with_bom = tmp_path / "bom" / "iris.ttl"
    with_bom.parent.mkdir()
    with_bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    result = CliRunner().invoke(main, ["validate", str(with_bom)])
    assert result.exit_code == 0, result.output
    assert notebook_bytes(load(with_bom).plan) == notebook_bytes(load(plain).plan)


def test_a_trig_or_nquads_plan_in_one_graph_gives_the_same_notebook_as_turtle(tmp_path):
    plain = make_plan(tmp_path / "iris.ttl")
    plan = load(plain).plan
    lines = rdflib.Graph().parse(plain).serialize(format="nt").splitlines()
    files = {
        "named.trig": f"<{plan.iri}> {{\n" + "\n".join(lines) + "\n}\n",
        "default.trig": "{\n" + "\n".join(lines) + "\n}\n",
        "named.nq": "".join(f"{line[:-1]} <{plan.iri}> .\n" for line in lines),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        assert notebook_bytes(load(tmp_path / name).plan) == notebook_bytes(plan), name


def test_plan_text_in_markdown_cells_never_becomes_a_link(tmp_path):
    mistune = pytest.importorskip("mistune", reason="mistune (nbconvert's markdown renderer) renders the cells")
    plan_file = make_plan(tmp_path / "links.ttl")
    text = plan_file.read_text()
    text = text.replace('dcterms:title "Iris test plan"', 'dcterms:title "[click](javascript:alert(1)) ![i](data:text/html,x)"')
    text = text.replace('rdfs:label "Load the data"', 'rdfs:label "[a][r] <javascript:alert(2)> \\\\[b](vbscript:x)"')
    text = text.replace('rdfs:label "Train the model"', 'rdfs:label "[r]: javascript:alert(3)"')
    plan_file.write_text(text)
    nb = build_notebook(load(plan_file).plan)
    rendered = "\n".join(mistune.html(c.source) for c in nb.cells if c.cell_type == "markdown")
    assert "<a " not in rendered and "<img " not in rendered
    assert "[click](javascript:alert(1))" in rendered  # shown as written


def test_validation_reports_every_problem_it_finds_one_line_each(tmp_path):
    plan = make_plan(tmp_path / "iris.ttl", epochs='"many"^^<http://www.w3.org/2001/XMLSchema#integer>',
                     test_size='"a fifth"^^<http://www.w3.org/2001/XMLSchema#decimal>')
    result = CliRunner().invoke(main, ["validate", str(plan)])
    assert result.exit_code == 2
    count, *lines = result.output.splitlines()
    assert count == f"mlprov: error: {plan}: 2 problems, one a line below"
    assert len(lines) == 2 and all(line.startswith(f"mlprov: error: {plan}: node ") for line in lines), lines
    assert any("'many'" in line or '"many"' in line for line in lines) and any("a fifth" in line for line in lines)


def three_structure_problems(p):
    """A position against the steps' order, a value not allowed and a value out of range."""
    make_plan(p, optimizer='"Adamm"', test_size="1.5")
    position_contradicts_order(p)


def test_three_structure_problems_are_three_lines_after_a_count_whatever_the_triple_order(tmp_path):
    plan = make_plan(tmp_path / "iris.ttl")
    three_structure_problems(plan)
    result = CliRunner().invoke(main, ["validate", str(plan)])
    assert result.exit_code == 2, result.output
    count, *lines = result.stderr.splitlines()
    assert count == f"mlprov: error: {plan}: 3 problems, one a line below", result.stderr
    assert len(lines) == 3 and "Traceback" not in result.output, result.stderr
    assert "mlprov:position" in lines[0]  # check order: the steps' order, then each step's parameters in order
    assert "test_size" in lines[1] and "out of range" in lines[1], lines  # data preparation comes before training
    assert "'Adamm' is not allowed" in lines[2], lines
    shuffled = tmp_path / "iris.nt"
    shuffled.write_text("\n".join(reversed(rdflib.Graph().parse(plan).serialize(format="nt").splitlines())) + "\n")
    again = CliRunner().invoke(main, ["validate", str(shuffled)])
    assert [line.replace(str(shuffled), "PLAN") for line in again.stderr.splitlines()] == \
        [line.replace(str(plan), "PLAN") for line in result.stderr.splitlines()]
