"""`mlprov demo`: the five jobs once, on Iris, in a folder of their own."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from . import browse, generate, queries
from .plan import load
from .scaffold import write_plan
from .store import StoreLocation, open_store
from .tasks import all_tasks
from .workflow import regenerate, run


def run_demo(directory: Path, echo: Callable[[str], None] = print) -> bool:
    started = time.perf_counter()
    directory = Path(directory).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    location = StoreLocation(directory / ".mlprov")
    plan_file = directory / "iris.ttl"
    notebook = directory / "iris.ipynb"
    regenerated = directory / "iris-regenerated.ipynb"
    graph_html = directory / "graph.html"

    echo("1. plan: writing an Iris plan")
    write_plan(all_tasks()["multiclass-classification"], plan_file, title="Iris MLP (mlprov demo)", author="mlprov demo")
    plan = load(plan_file).plan

    echo("2. generate and run: executing the notebook in a Jupyter kernel")
    outcome = run(plan_file, location, output=notebook, on_cell=lambda done, total: echo(f"   cell {done}/{total}"))
    echo(f"   run {outcome.run}: {outcome.status.lower()}")

    echo("3. query: the run's metrics")
    with open_store(location) as store:
        result = queries.run(store, queries.resolve("run-metrics"), {"run": outcome.run})
        echo(queries.to_table(result))
        graph = browse.collect(store, outcome.run)

    echo(f"4. regenerate: rebuilding the notebook from the stored plan <{plan.iri}>")
    regenerate(plan.iri, regenerated, location)
    identical = regenerated.read_bytes() == generate.notebook_bytes(plan)
    echo(f"   identical to the generated notebook: {'yes' if identical else 'NO'}")

    echo("5. browse: writing the run's provenance graph")
    browse.write_html(graph, outcome.run, graph_html)

    echo("")
    echo(f"plan:        {plan_file}")
    echo(f"notebook:    {notebook} (executed)")
    echo(f"regenerated: {regenerated}")
    echo(f"graph:       {graph_html}")
    echo(f"store:       {location.home}")
    echo(f"try:         mlprov runs --store {location.home}")
    echo(f"             mlprov serve --store {location.home}   (then open http://127.0.0.1:8765/)")
    echo(f"done in {time.perf_counter() - started:.0f} s")
    return outcome.ok and identical
