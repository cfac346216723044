"""The graph browser: readable labels, colours, grouping, escaping, offline, deterministic,
laid out by vis-network's hierarchical layout from each node's level."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import BNode, Graph, Literal, Namespace, URIRef

from mlprov_rdf import browse
from mlprov_rdf.errors import UserError
from mlprov_rdf.store import StoreLocation, open_store

RDF = Namespace("http://www.w3.org/1999/02/22-rdf-syntax-ns#")
RDFS = Namespace("http://www.w3.org/2000/01/rdf-schema#")
XSD = Namespace("http://www.w3.org/2001/XMLSchema#")
PROV = Namespace("http://www.w3.org/ns/prov#")
PPLAN = Namespace("http://purl.org/net/p-plan#")
REPR = Namespace("https://w3id.org/reproduceme#")
MLS = Namespace("http://www.w3.org/ns/mls#")
MLPROV = Namespace("https://w3id.org/mlprov#")
DCTERMS = Namespace("http://purl.org/dc/terms/")

PLAN = URIRef("https://example.org/plans/iris-mlp")
P = Namespace(str(PLAN) + "#")
RUN_ID = "20261123T194201-0a1b2c3d"
RUN = URIRef(f"urn:mlprov:run:{RUN_ID}")
BUNDLE = URIRef(f"urn:mlprov:bundle:{RUN_ID}")
R = Namespace(f"{RUN}/")
PACKAGES = [
    "numpy", "pandas", "torch", "sklearn", "scipy", "matplotlib", "joblib", "threadpoolctl",
    "packaging", "pyparsing", "cycler", "kiwisolver", "pillow", "fonttools", "dateutil",
]
STEPS = [  # (fragment, class, label, position)
    ("setup", MLPROV.SetupStep, "Set up", 1),
    ("ingest", MLPROV.DataIngestionStep, "Load the data", 2),
    ("train", MLPROV.TrainingStep, "Train the model", 3),
]


def plan_graph(description: str = "Trains a small MLP on Iris.") -> Graph:
    """A plan with 3 steps and 2 parameters, as docs/data-model.md writes it."""
    g = Graph()
    g.add((PLAN, RDF.type, PPLAN.Plan))
    g.add((PLAN, RDF.type, REPR.Experiment))
    g.add((PLAN, DCTERMS.title, Literal("Iris MLP")))
    g.add((PLAN, DCTERMS.description, Literal(description)))
    g.add((PLAN, PROV.wasAttributedTo, URIRef("https://example.org/people/ada")))
    g.add((PLAN, MLPROV.task, MLPROV.MulticlassClassification))
    g.add((URIRef("https://example.org/people/ada"), RDF.type, PROV.Person))
    g.add((URIRef("https://example.org/people/ada"), RDFS.label, Literal("Ada")))
    # added in reverse plan order on purpose: the layout must sort by mlprov:position
    for i, (frag, cls, label, pos) in reversed(list(enumerate(STEPS))):
        step = P[frag]
        g.add((step, RDF.type, cls))
        g.add((step, RDFS.label, Literal(label)))
        g.add((step, PPLAN.isStepOfPlan, PLAN))
        g.add((step, MLPROV.position, Literal(pos)))
        if i:
            g.add((step, PPLAN.isPrecededBy, P[STEPS[i - 1][0]]))
    for name, value in (("dataset", Literal("iris")), ("epochs", Literal(100))):
        var = P[name]
        g.add((var, RDF.type, PPLAN.Variable))
        g.add((var, RDF.type, REPR.Parameter))
        g.add((var, MLPROV.parameterName, Literal(name)))
        g.add((var, PROV.value, value))
        g.add((var, PPLAN.isVariableOfPlan, PLAN))
    g.add((P.ingest, PPLAN.hasInputVar, P.dataset))
    g.add((P.train, PPLAN.hasInputVar, P.epochs))
    return g


def run_graph() -> Graph:
    """A run bundle: 3 cell executions, a data set, a model, 3 metrics, hardware, 15 packages."""
    g = Graph()
    g.add((BUNDLE, RDF.type, PPLAN.Bundle))
    g.add((BUNDLE, RDF.type, PROV.Bundle))
    g.add((BUNDLE, PROV.wasGeneratedBy, RUN))
    person = URIRef("urn:mlprov:agent:person:ada")
    software = URIRef("urn:mlprov:agent:software:mlprov-rdf-0.1.0")
    for t in (PROV.Activity, REPR.Trial, MLS.Run):
        g.add((RUN, RDF.type, t))
    g.add((RUN, RDFS.label, Literal("Iris MLP, run 2026-11-23 19:42:01")))
    g.add((RUN, MLPROV.plan, PLAN))
    g.add((RUN, MLPROV.status, MLPROV.Completed))
    g.add((RUN, PROV.startedAtTime, Literal("2026-11-23T19:42:01.123456+00:00", datatype=XSD.dateTime)))
    assoc = BNode()
    g.add((RUN, PROV.qualifiedAssociation, assoc))
    g.add((assoc, RDF.type, PROV.Association))
    g.add((assoc, PROV.agent, person))
    g.add((assoc, PROV.hadPlan, PLAN))
    g.add((RUN, PROV.wasAssociatedWith, person))
    g.add((RUN, PROV.wasAssociatedWith, software))
    g.add((person, RDF.type, PROV.Agent))
    g.add((person, RDF.type, PROV.Person))
    g.add((person, RDFS.label, Literal("ada")))
    g.add((software, RDF.type, PROV.SoftwareAgent))
    g.add((software, RDFS.label, Literal("mlprov-rdf 0.1.0")))
    for order, (frag, _, label, _) in enumerate(STEPS, start=1):
        cell = R[f"cell/{order}"]
        g.add((cell, RDF.type, PROV.Activity))
        g.add((cell, RDF.type, REPR.CellExecution))
        g.add((cell, RDFS.label, Literal(f"{order}. {label}")))
        g.add((cell, DCTERMS.isPartOf, RUN))
        g.add((cell, PPLAN.correspondsToStep, P[frag]))
        g.add((cell, MLPROV.executionOrder, Literal(order)))
        g.add((cell, MLPROV.sourceCode, Literal(f"# mlprov step {frag}\nprint('{label}')\n")))
        g.add((cell, MLPROV.status, MLPROV.Completed))
        if order > 1:
            g.add((cell, PROV.wasInformedBy, R[f"cell/{order - 1}"]))
    setting = R["setting/epochs"]
    g.add((setting, RDF.type, MLS.HyperParameterSetting))
    g.add((setting, RDFS.label, Literal("epochs = 100")))
    g.add((setting, PPLAN.correspondsToVariable, P.epochs))
    g.add((setting, MLPROV.parameterName, Literal("epochs")))
    g.add((setting, MLS.hasValue, Literal(100)))
    g.add((RUN, MLS.hasInput, setting))
    data = R["data/iris"]
    g.add((data, RDF.type, MLS.Dataset))
    g.add((data, RDFS.label, Literal("iris")))
    g.add((data, MLPROV.sampleCount, Literal(150)))
    g.add((data, PROV.wasGeneratedBy, R["cell/2"]))
    model = R["model"]
    g.add((model, RDF.type, MLS.Model))
    g.add((model, RDFS.label, Literal("MLP 4-50-50-3 (relu)")))
    g.add((model, PROV.wasDerivedFrom, data))
    g.add((model, PROV.wasGeneratedBy, R["cell/3"]))
    g.add((RUN, MLS.hasOutput, model))
    for name, value in (("accuracy", 0.9666666666666667), ("loss", 0.0812), ("macro_f1", 0.9665)):
        metric = R[f"metric/{name}"]
        g.add((metric, RDF.type, MLS.ModelEvaluation))
        g.add((metric, MLS.specifiedBy, MLPROV[name]))
        g.add((metric, MLS.hasValue, Literal(value)))
        g.add((metric, PROV.wasDerivedFrom, model))
        g.add((metric, PROV.wasGeneratedBy, R["cell/3"]))
        g.add((RUN, MLS.hasOutput, metric))
    hardware = R["hardware"]
    g.add((hardware, RDF.type, MLPROV.Hardware))
    g.add((hardware, RDFS.label, Literal("x86_64, 2 cores, 24.0 GiB")))
    g.add((hardware, MLPROV.cpuCores, Literal(2)))
    g.add((RUN, REPR.hasSetting, hardware))
    for name in PACKAGES:
        pkg = R[f"package/{name}"]
        g.add((pkg, RDF.type, REPR.Package))
        g.add((pkg, RDFS.label, Literal(f"{name} 1.0")))
        g.add((pkg, MLPROV.packageName, Literal(name)))
        g.add((RUN, REPR.hasSetting, pkg))
    return g


def run_view() -> Graph:
    return plan_graph() + run_graph()


def tip_text(node: dict) -> str:
    """Every text of a node's tooltip data, as one string."""
    tip = node["mlprovTip"]
    parts = [tip["head"], tip["kind"], tip["iri"] or ""]
    for key, values in tip["rows"]:
        parts.append(key)
        parts.extend(text + " " + note for text, note in values)
    return "\n".join(parts)


def network_data(page: str) -> tuple[list[dict], list[dict]]:
    """The node and edge arrays the page hands to vis-network."""
    found = {}
    for name in ("nodes", "edges"):
        match = re.search(rf"{name} = new vis\.DataSet\(mlprovTips\((.*)\)\);", page)
        assert match, f"no {name} data set in the page"
        found[name] = json.loads(match.group(1))
    return found["nodes"], found["edges"]


def render(graph: Graph, tmp_path: Path, name: str = "page.html", focus: str = str(RUN)) -> tuple[str, list, list]:
    path = tmp_path / name
    browse.write_html(graph, focus, path)
    page = path.read_text(encoding="utf-8")
    nodes, edges = network_data(page)
    return page, nodes, edges


def test_every_run_and_plan_node_is_shown_with_a_readable_label(tmp_path):
    graph = run_view()
    _, nodes, _ = render(graph, tmp_path)
    by_id = {n["id"]: n for n in nodes}
    # every resource but the bundle, and the plan variable its setting stands for
    wanted = {str(s) for s in graph.subjects() if isinstance(s, URIRef)} - {str(BUNDLE), str(P.epochs)}
    assert wanted <= set(by_id), sorted(wanted - set(by_id))
    for node in nodes:
        assert node["label"].strip(), node["id"]
        assert "urn:mlprov:" not in node["label"] and "://" not in node["label"], node["label"]
    assert by_id[str(RUN)]["label"] == "Iris MLP, run 2026-11-23 19:42:01"
    assert by_id[str(R["cell/2"])]["label"] == "2. Load the data"


def test_labels_fall_back_to_name_value_then_measure_value_then_a_compact_name(tmp_path):
    graph = run_view()
    _, nodes, _ = render(graph, tmp_path)
    by_id = {n["id"]: n for n in nodes}
    assert by_id[str(P.dataset)]["label"] == "dataset = iris"
    assert by_id[str(R["setting/epochs"])]["label"] == "epochs = 100"
    assert by_id[str(R["metric/accuracy"])]["label"] == "accuracy = 0.9667"
    assert browse.compact(str(R["package/torch"])) == "package/torch"
    assert browse.compact(str(RUN)) == f"run {RUN_ID}"
    assert browse.compact(str(PROV.wasGeneratedBy)) == "prov:wasGeneratedBy"


def test_each_kind_gets_its_own_colour_and_the_legend_names_it(tmp_path):
    page, nodes, _ = render(run_view(), tmp_path)
    colour_of: dict[str, set[str]] = {}
    for node in nodes:
        colour_of.setdefault(node["mlprovKind"], set()).add(node["color"]["background"])
    assert {"plan", "step", "parameter", "setting", "run", "cell", "data", "model", "metric", "agent",
            "environment"} <= set(colour_of)
    assert all(len(colours) == 1 for colours in colour_of.values())
    backgrounds = [next(iter(c)) for c in colour_of.values()]
    assert len(set(backgrounds)) == len(backgrounds)
    for kind in colour_of:
        assert f">{browse._KIND[kind].legend}</span>" in page


def test_packages_sit_behind_one_environment_node_not_on_the_run(tmp_path):
    _, nodes, edges = render(run_view(), tmp_path)
    by_id = {n["id"]: n for n in nodes}
    packages = [str(R[f"package/{name}"]) for name in PACKAGES]
    hubs = [n for n in nodes if n.get("mlprovHub") and n["mlprovKind"] == "environment"]
    assert len(hubs) == 1
    hub = hubs[0]["id"]
    assert "15 packages" in hubs[0]["label"]
    for package in packages + [str(R["hardware"])]:
        assert by_id[package]["hidden"] is True and by_id[package]["mlprovGroup"] == hub
    visible = [e for e in edges if not e.get("hidden")]
    assert not [e for e in visible if e["to"] in packages or e["from"] in packages]
    assert [e for e in visible if e["from"] == str(RUN) and e["to"] == hub]
    top_level_on_run = [e for e in visible if str(RUN) in (e["from"], e["to"])]
    assert len(top_level_on_run) < 10


def test_a_parameter_appears_once_as_the_runs_setting_with_the_plan_value_in_its_tooltip(tmp_path):
    _, nodes, edges = render(run_view(), tmp_path)
    by_id = {n["id"]: n for n in nodes}
    assert str(P.epochs) not in by_id  # the plan variable is not drawn beside its setting
    assert [n["label"] for n in nodes].count("epochs = 100") == 1
    setting = by_id[str(R["setting/epochs"])]
    assert "plan: prov:value" in tip_text(setting) and "plan variable" in tip_text(setting)
    assert [e for e in edges if e["from"] == str(P.train) and e["to"] == setting["id"] and "hasInputVar" in e["title"]]


def test_steps_and_cells_read_left_to_right_in_plan_order(tmp_path):
    _, nodes, _ = render(run_view(), tmp_path)
    by_id = {n["id"]: n for n in nodes}
    step_level = [by_id[str(P[frag])]["level"] for frag, *_ in STEPS]
    cell_level = [by_id[str(R[f"cell/{i}"])]["level"] for i in (1, 2, 3)]
    assert step_level == sorted(step_level) and len(set(step_level)) == 3
    assert cell_level == step_level  # each cell shares its step's column
    assert by_id[str(PLAN)]["level"] < step_level[0] and by_id[str(RUN)]["level"] < step_level[0]
    assert by_id[str(R["setting/epochs"])]["level"] < by_id[str(P.train)]["level"]  # what a step reads comes before it
    assert by_id[str(R["model"])]["level"] > by_id[str(P.train)]["level"]  # what its cell made after it


def test_tooltips_escape_plan_literals(tmp_path):
    graph = plan_graph(description='<script>alert("x")</script><img src=x onerror=alert(1)>')
    page, nodes, _ = render(graph, tmp_path, focus=str(PLAN))
    plan = next(n for n in nodes if n["id"] == str(PLAN))
    # the tooltip is data the page's script puts into text nodes, never markup
    assert '<script>alert("x")</script><img src=x onerror=alert(1)>' in tip_text(plan)
    assert "<script>alert" not in page and "<img src=x" not in page  # escaped inside the page's script
    assert "innerHTML" not in page.split("new vis.Network(")[0].rsplit("function mlprovTipElement", 1)[-1]


def test_hostile_labels_stay_text_in_the_page(tmp_path):
    graph = plan_graph()
    graph.set((P.setup, RDFS.label, Literal('"><img src=x onerror=alert(1)>')))
    graph.set((PLAN, DCTERMS.title, Literal("<script>alert(1)</script>")))
    page, nodes, _ = render(graph, tmp_path, focus=str(PLAN))
    assert next(n for n in nodes if n["id"] == str(P.setup))["label"] == '"><img src=x onerror=alert(1)>'
    assert "<img src=x" not in page and "<script>alert(1)" not in page
    assert "<title>mlprov: &lt;script&gt;alert(1)&lt;/script&gt;</title>" in page


def test_page_fetches_nothing_from_the_network(tmp_path):
    page, _, _ = render(run_view(), tmp_path)
    assert not re.search(r"<script\b[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert not re.search(r"<link\b[^>]*\bhref\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert "bootstrap" not in page
    # nothing is loaded from anywhere, not even a relative path: the page is one file
    assert not re.search(r"<script\b[^>]*\bsrc\s*=", page, re.I)
    assert not re.search(r"<link\b[^>]*\bhref\s*=", page, re.I)
    assert "new vis.Network(" in page and "vis-network" in page  # the library is inlined
    assert "http://" not in page.split("<body>")[0].split("<script")[0]


def test_same_graph_renders_byte_identical(tmp_path):
    browse.write_html(run_view(), str(RUN), tmp_path / "a.html")
    browse.write_html(run_view(), str(RUN), tmp_path / "b.html")
    assert (tmp_path / "a.html").read_bytes() == (tmp_path / "b.html").read_bytes()


def test_summary_counts_nodes_and_kinds(tmp_path):
    summary = browse.write_html(run_view(), str(RUN), tmp_path / "s.html", title="Iris")
    assert summary.path == tmp_path / "s.html"
    assert summary.kinds["step"] == 3 and summary.kinds["cell"] == 3 and summary.kinds["metric"] == 3
    assert summary.kinds["environment"] == 17  # hardware, 15 packages, and the hub
    assert summary.grouped == 16
    assert summary.nodes == sum(summary.kinds.values()) and summary.edges > 0
    assert "<title>Iris</title>" in (tmp_path / "s.html").read_text(encoding="utf-8")


def test_a_failed_cell_gets_a_red_border(tmp_path):
    graph = run_view()
    graph.set((R["cell/3"], MLPROV.status, MLPROV.Failed))
    graph.add((R["cell/3"], MLPROV.error, Literal("ValueError: <bad>")))
    _, nodes, _ = render(graph, tmp_path)
    by_id = {n["id"]: n for n in nodes}
    assert by_id[str(R["cell/3"])]["color"]["border"] == "#d62728"
    assert by_id[str(R["cell/2"])]["color"]["border"] != "#d62728"
    assert "ValueError: <bad>" in tip_text(by_id[str(R["cell/3"])])


def test_build_network_gives_a_pyvis_network_laid_out_by_vis_networks_hierarchical_layout():
    net = browse.build_network(run_view(), str(RUN))
    assert net.options["physics"]["enabled"] is False
    hierarchical = net.options["layout"]["hierarchical"]
    assert hierarchical["enabled"] is True and hierarchical["direction"] == "LR"
    assert all(isinstance(n["level"], int) and "x" not in n and "y" not in n for n in net.nodes)
    assert [n["id"] for n in net.nodes] == sorted(n["id"] for n in net.nodes)
    assert len({e["id"] for e in net.edges}) == len(net.edges)  # vis-network refuses a repeated id


def test_the_page_and_the_app_share_one_graph_data_function(tmp_path):
    graph = run_view()
    page, nodes, edges = render(graph, tmp_path)
    data = browse.graph_data(browse.View(graph, str(RUN)))
    # pyvis adds its defaults (arrows on a directed network); everything else is ours, as made
    assert [n["id"] for n in nodes] == [n["id"] for n in data["nodes"]]
    assert all(ours.items() <= drawn.items() for ours, drawn in zip(data["nodes"], nodes))
    assert all(ours.items() <= drawn.items() for ours, drawn in zip(data["edges"], edges))
    assert len(edges) == len(data["edges"])
    summary = browse.graph_data(browse.View(graph, str(RUN)), summary_only=True)
    kinds = {n["mlprovKind"] for n in summary["nodes"]}
    assert {"plan", "step", "run", "setting", "data", "model", "metric", "environment"} <= kinds
    assert not kinds & {"cell", "agent"} and not [n for n in summary["nodes"] if n.get("hidden")]
    # on the summary, what a cell made hangs off the cell's step
    assert [e for e in summary["edges"] if e["from"] == str(R["model"]) and e["to"] == str(P.train)]


def test_long_metric_series_fold_into_one_node(tmp_path):
    graph = run_view()
    for epoch in range(1, 51):
        m = R[f"metric/training_loss/epoch/{epoch}"]
        graph.add((m, RDF.type, MLS.ModelEvaluation))
        graph.add((m, MLS.specifiedBy, MLPROV.training_loss))
        graph.add((m, MLS.hasValue, Literal(1.0 / epoch)))
        graph.add((m, MLPROV.epoch, Literal(epoch)))
        graph.add((m, PROV.wasGeneratedBy, R["cell/3"]))
    _, nodes, edges = render(graph, tmp_path)
    visible = [n for n in nodes if not n.get("hidden")]
    assert not [n for n in visible if "/epoch/" in n["id"]]
    hub = next(n for n in visible if n.get("mlprovHub") and n["mlprovKind"] == "metric")
    assert hub["label"].startswith("training_loss per epoch\n50 values, last 0.02")
    assert [e for e in edges if e["from"] == hub["id"] and e["to"] == str(R["cell/3"]) and not e.get("hidden")]
    assert hub["shape"] == "ellipse"  # drawn as a metric, not as a folded box
    assert "epoch 50" in tip_text(hub) and "0.02" in tip_text(hub)  # its values in the tooltip


def _load(store, graph_iri: str, graph: Graph) -> None:
    data = graph.serialize(format="nt", encoding="utf-8")
    store.replace_graph(graph_iri, ox.parse(data, format=ox.RdfFormat.N_TRIPLES))


@pytest.fixture
def store(tmp_path):
    with open_store(StoreLocation(tmp_path / "s")) as s:
        _load(s, str(PLAN), plan_graph())
        _load(s, str(BUNDLE), run_graph())
        yield s


def test_collect_run_returns_its_bundle_and_its_plan(store):
    graph = browse.collect(store, str(RUN))
    assert len(graph) == len(plan_graph()) + len(run_graph())
    assert (P.ingest, PPLAN.isStepOfPlan, PLAN) in graph
    assert (R["cell/2"], PPLAN.correspondsToStep, P.ingest) in graph
    assert len(browse.collect(store, str(BUNDLE))) == len(graph)  # the bundle IRI means the run


def test_collect_plan_returns_the_plan_graph_only(store):
    graph = browse.collect(store, str(PLAN))
    assert len(graph) == len(plan_graph())
    assert not list(graph.triples((RUN, None, None)))


@pytest.mark.parametrize("iri", ["urn:mlprov:run:19990101T000000-ffffffff", "https://example.org/nothing"])
def test_collect_unknown_iri_is_a_user_error(store, iri):
    with pytest.raises(UserError) as error:
        browse.collect(store, iri)
    message = str(error.value)
    assert message.startswith(f"{iri}: no plan or run with this IRI in the store ")
    assert str(store.location.home) in message and "mlprov runs" in message
    assert "\n" not in message


def test_collected_run_renders(store, tmp_path):
    summary = browse.write_html(browse.collect(store, str(RUN)), str(RUN), tmp_path / "run.html")
    assert summary.kinds["run"] == 1 and summary.kinds["plan"] == 1


DAG_STEPS = [  # (fragment, class, label, the steps it follows), written out of order on purpose
    ("split", MLPROV.DataSegregationStep, "Split the data", ("prepare", "features")),
    ("features", MLPROV.CodeStep, "Add a feature", ("ingest",)),
    ("prepare", MLPROV.DataPreparationStep, "Prepare the data", ("ingest",)),
    ("ingest", MLPROV.DataIngestionStep, "Load the data", ("setup",)),
    ("setup", MLPROV.SetupStep, "Set up", ()),
]
FEATURE_CODE = "X = np.column_stack([X, X[:, 0] * X[:, 1]])\nn_features = X.shape[1]  # <b>not markup</b>"


def dag_plan_graph() -> Graph:
    """A plan whose split follows two steps (a code step and the preparation), without positions."""
    g = Graph()
    g.add((PLAN, RDF.type, PPLAN.Plan))
    g.add((PLAN, DCTERMS.title, Literal("Iris with a feature")))
    for frag, cls, label, follows in DAG_STEPS:
        g.add((P[frag], RDF.type, cls))
        g.add((P[frag], RDFS.label, Literal(label)))
        g.add((P[frag], PPLAN.isStepOfPlan, PLAN))
        for previous in follows:
            g.add((P[frag], PPLAN.isPrecededBy, P[previous]))
    g.add((P.features, MLPROV.code, Literal(FEATURE_CODE)))
    g.add((P["n-features"], RDF.type, PPLAN.Variable))
    g.add((P["n-features"], MLPROV.parameterName, Literal("n_features")))
    g.add((P["n-features"], PPLAN.isVariableOfPlan, PLAN))
    g.add((P.features, PPLAN.hasOutputVar, P["n-features"]))
    return g


def dag_run_graph() -> Graph:
    """Its run: one cell per step in the plan's order, and the code step's recorded output."""
    g = Graph()
    for t in (PROV.Activity, MLS.Run):
        g.add((RUN, RDF.type, t))
    g.add((RUN, MLPROV.plan, PLAN))
    for order, frag in enumerate(["setup", "ingest", "features", "prepare", "split"], start=1):
        cell = R[f"cell/{order}"]
        g.add((cell, RDF.type, REPR.CellExecution))
        g.add((cell, DCTERMS.isPartOf, RUN))
        g.add((cell, PPLAN.correspondsToStep, P[frag]))
        g.add((cell, MLPROV.executionOrder, Literal(order)))
    output = R["cell/3/output/n_features"]
    g.add((output, RDF.type, PROV.Entity))
    g.add((output, RDF.type, PPLAN.Entity))
    g.add((output, RDFS.label, Literal("n_features = 5")))
    g.add((output, MLPROV.parameterName, Literal("n_features")))
    g.add((output, PPLAN.correspondsToVariable, P["n-features"]))
    g.add((output, PROV.value, Literal(5)))
    g.add((output, PROV.wasGeneratedBy, R["cell/3"]))
    return g


def test_a_plan_graph_is_laid_out_in_the_order_the_notebook_runs_and_each_link_is_drawn(tmp_path):
    _, nodes, edges = render(dag_plan_graph(), tmp_path, focus=str(PLAN))
    x = {n["id"]: n["level"] for n in nodes}
    columns = [x[str(P[frag])] for frag in ("setup", "ingest", "features", "prepare", "split")]
    assert columns == sorted(columns) and len(set(columns)) == 5  # unordered branches go by IRI
    follows = {(e["from"], e["to"]) for e in edges if "isPrecededBy" in e["title"]}
    assert {(str(P["split"]), str(P.prepare)), (str(P["split"]), str(P.features))} <= follows
    assert {(str(P.features), str(P.ingest)), (str(P.prepare), str(P.ingest))} <= follows
    assert not [e for e in edges if "isPrecededBy" in e["title"] and e.get("hidden")]


def test_a_code_step_is_drawn_as_its_own_kind_with_its_code_escaped_in_the_tooltip(tmp_path):
    page, nodes, _ = render(dag_plan_graph(), tmp_path, focus=str(PLAN))
    by_id = {n["id"]: n for n in nodes}
    code, step = by_id[str(P.features)], by_id[str(P.prepare)]
    assert code["mlprovKind"] == "code" and step["mlprovKind"] == "step"
    assert code["color"]["background"] != step["color"]["background"]
    assert code["mlprovTip"]["kind"] == "code step" and ">code step</span>" in page  # tooltip and legend
    assert "n_features = X.shape[1]  # <b>not markup</b>" in tip_text(code)
    assert "<b>not markup" not in page


def test_a_code_steps_recorded_output_sits_under_the_cell_that_made_it(tmp_path):
    _, nodes, edges = render(dag_plan_graph() + dag_run_graph(), tmp_path)
    by_id = {n["id"]: n for n in nodes}
    output, cell = by_id[str(R["cell/3/output/n_features"])], by_id[str(R["cell/3"])]
    assert output["mlprovKind"] == "output" and output["label"] == "n_features = 5"
    assert output["level"] == cell["level"] + 1  # in the column after the cell that made it
    assert by_id[str(R["cell/3"])]["level"] == by_id[str(P.features)]["level"]  # cells share their steps' columns
    made = [e for e in edges if e["from"] == output["id"] and e["to"] == cell["id"]]
    assert made and "prov:wasGeneratedBy" in made[0]["label"]


def test_the_offline_page_opens_on_the_summary_at_a_readable_zoom_and_unfolds_on_click(browser, tmp_path):
    """In a real Chromium: vis-network lays the page out, Fit keeps labels readable, a click unfolds."""
    graph = run_view()
    for epoch in range(1, 51):
        m = R[f"metric/training_loss/epoch/{epoch}"]
        graph.add((m, RDF.type, MLS.ModelEvaluation))
        graph.add((m, MLS.specifiedBy, MLPROV.training_loss))
        graph.add((m, MLS.hasValue, Literal(1.0 / epoch)))
        graph.add((m, MLPROV.epoch, Literal(epoch)))
        graph.add((m, PROV.wasGeneratedBy, R["cell/3"]))
    path = tmp_path / "run.html"
    browse.write_html(graph, str(RUN), path)
    context = browser.new_context(viewport={"width": 900, "height": 700})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(path.as_uri())
        page.wait_for_function("() => network.getScale() >= 0.6")
        x = page.evaluate("ids => ids.map(id => network.getPosition(id).x)", [str(P[frag]) for frag, *_ in STEPS])
        assert x == sorted(x) and len(set(x)) == 3  # the layout kept the plan order left to right
        run_x = page.evaluate("id => network.canvasToDOM(network.getPosition(id)).x", str(RUN))
        assert 0 <= run_x <= 900  # the run is on screen
        hub = page.evaluate("nodes.getIds({filter: n => n.mlprovHub && n.mlprovKind === 'environment'})[0]")
        page.click("#mp-groups")
        assert page.evaluate("h => nodes.get({filter: n => n.mlprovGroup === h && !n.hidden}).length", hub) == 16
        page.click("#mp-fit")
        assert page.evaluate("network.getScale()") >= 0.6
        assert errors == []
    finally:
        context.close()
