"""`mlprov`: the command line. Thin: parse, call the library, print.

Exit codes: 0 success; 1 the run or check failed; 2 bad input or usage, always as
one line on stderr and never a traceback.
"""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import __version__
from .errors import DEFAULT_TIMEOUT_S, UserError

if TYPE_CHECKING:  # the store (rdflib, pyoxigraph) is imported by the commands that open one
    from .store import StoreLocation

FORMATS = click.Choice(["table", "csv", "json", "jsonl"])
#: Runs that ``mlprov ingest`` lists one a line; a larger import ends with a summary.
INGEST_LINES = 20


def _store_option(f):
    return click.option(
        "--store",
        "store",
        envvar="MLPROV_STORE",
        default=None,
        metavar="PATH|URL",
        help="A store folder, or a SPARQL server URL (http://HOST:PORT/) [env MLPROV_STORE; default .mlprov in the working directory].",
    )(f)


def _location(store: str | None, artifacts: Path | None = None) -> StoreLocation:
    from .store import StoreLocation

    return StoreLocation.resolve(store, artifacts=artifacts)


def _artifacts_option(f):
    return click.option(
        "--artifacts", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
        help="Where runs keep the files they write, RUN-ID/ a run [env MLPROV_ARTIFACT_DIR; default artifacts/ in the store folder, or in .mlprov for a server store].",
    )(f)


def _quiet_option(f):
    return click.option("-q", "--quiet", is_flag=True,
                        help="No progress on stderr: no bar on a terminal, no lines in a log (errors still show).")(f)


def _force_option(f):
    return click.option("--force", is_flag=True, help="Replace the output file even if mlprov did not write it.")(f)


def _override_option(f):
    return click.option(
        "-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
        help="Override a parameter (repeatable): the plan derived with these values, with its own IRI and Turtle file beside the notebook, is the one generated.",
    )(f)


def _terminated(signum: int, _frame) -> None:
    """SIGTERM outside a kernel's run: one line, then exit 143 (finally blocks still run)."""
    click.echo("mlprov: terminated (SIGTERM); nothing half-written is kept", err=True)
    raise SystemExit(128 + signum)


class _Group(click.Group):
    """Turns UserError into one line and exit 2, wherever it is raised."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as error:  # several problems (a plan's) are one line each
            click.echo("\n".join(f"mlprov: error: {line}" for line in str(error).splitlines() or [""]), err=True)
            sys.exit(2)
        except click.UsageError as error:  # a bad option value: the same one line, not click's three
            command = f"mlprov {error.ctx.info_name}" if error.ctx is not None and error.ctx.parent is not None else "mlprov"
            click.echo(f"mlprov: error: {' '.join(error.format_message().split()).rstrip('.')}; see '{command} --help'", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("mlprov: interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlprov")
@click.option("-v", "--verbose", is_flag=True, help="Log what the library does.")
def main(verbose: bool) -> None:
    """Reproducible machine-learning experiments through RDF provenance.

    Write a plan in Turtle (start with 'mlprov init'), generate and run its notebook,
    then query, regenerate and browse what was recorded.
    """
    import logging  # here, not at the top: 'mlprov --help' and '--version' end before this runs

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@main.command()
@click.option("--task", default="multiclass-classification", show_default=True, help="The task the plan is for.")
@click.option("--title", default=None, help="The plan's title.")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@click.option("--list", "list_", is_flag=True, help="List the installed tasks (as 'mlprov tasks' does) and exit.")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def init(task: str, title: str | None, force: bool, list_: bool, file: Path | None) -> None:
    """Write a complete, commented plan with default values to FILE."""
    from .scaffold import write_plan
    from .tasks import task_named

    if list_:
        _print_tasks("table")
        return
    if file is None:
        raise UserError("init: give the plan FILE to write; 'mlprov init --list' shows the tasks")
    spec = task_named(task)
    if file.exists() and not force:
        raise UserError(f"{file}: exists already; choose another name or pass --force")
    write_plan(spec, file, title=title)
    click.echo(f"wrote {file}: edit it, then 'mlprov validate {file}' and 'mlprov run {file}'")


@main.command("tasks")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
def tasks_command(fmt: str) -> None:
    """List the installed tasks: name, IRI, title, the distribution each comes from, its steps.

    Tasks are found through the 'mlprov.tasks' entry points; a plugin that cannot be
    used is named in a warning and left out.
    """
    _print_tasks(fmt)


def _print_tasks(fmt: str) -> None:
    import csv
    import io
    import json

    from .queries import terminal_text
    from .tasks import all_tasks, describe

    rows = [describe(task) for task in all_tasks().values()]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if fmt == "jsonl":
        click.echo("\n".join(json.dumps(row) for row in rows))
        return
    columns = ("name", "iri", "title", "source", "steps")
    cells = [
        [row["name"], row["iri"], row["title"], f"{row['distribution']} {row['version']}",
         " ".join(s["class"] + ("?" if s["optional"] else "") + ("*" if s["repeatable"] else "") for s in row["steps"])]
        for row in rows
    ]
    if fmt == "csv":
        buffer = io.StringIO()
        csv.writer(buffer).writerows([columns, *cells])
        click.echo(buffer.getvalue(), nl=False)
        return
    cells = [[terminal_text(c) for c in line] for line in cells]
    widths = [max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)]
    for line in [list(columns), *cells]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())
    click.echo("(steps in notebook order; ? optional, * may appear more than once)")


@main.command()
@click.argument("plan_file", metavar="PLAN", type=click.Path(path_type=Path))
def validate(plan_file: Path) -> None:
    """Check a plan: syntax, shapes, step order and parameters."""
    from .plan import load

    plan = load(plan_file).plan
    click.echo(f"{plan_file}: valid {plan.task.name} plan <{plan.iri}>, {len(plan.steps)} steps, {len(plan.parameters)} parameters")


@main.command()
@click.argument("plan_file", metavar="PLAN", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Notebook to write [default: PLAN with .ipynb; with -p, PLAN.NAME-VALUE.ipynb].")
@_override_option
@_force_option
@_store_option
def generate(plan_file: Path, output: Path | None, params: tuple[str, ...], force: bool, store: str | None) -> None:
    """Validate PLAN, keep it in the store and write its notebook."""
    from .derive import parse_overrides
    from .workflow import generate_notebook

    generated = generate_notebook(plan_file, output, _location(store), force=force, overrides=parse_overrides(params))
    if generated.derived_file is not None:
        click.echo(f"wrote {generated.derived_file}: plan <{generated.plan.iri}>, derived from {plan_file}")
    click.echo(f"wrote {generated.notebook} from plan <{generated.plan.iri}>")


@main.command("run")
@click.argument("source", metavar="PLAN|NOTEBOOK", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Where to save the executed notebook.")
@click.option("--timeout", type=int, default=None, help="Seconds a cell may run before the run is stopped.")
@click.option("--energy", is_flag=True, help="Estimate energy and emissions per cell (codecarbon, offline; as MLPROV_ENERGY=on).")
@_override_option
@_force_option
@_quiet_option
@_artifacts_option
@_store_option
def run_command(source: Path, output: Path | None, timeout: int | None, energy: bool, params: tuple[str, ...],
                force: bool, quiet: bool, artifacts: Path | None, store: str | None) -> None:
    """Execute a plan's notebook (or a notebook) and record the run in the store.

    Ctrl-C or SIGTERM stops the running cell, saves the notebook so far and stores the
    run as interrupted (exit 130 or 143); --timeout does the same and exits 1.
    """
    from . import queries
    from .derive import parse_overrides
    from .progress import progress
    from .store import open_store
    from .workflow import run

    signal.signal(signal.SIGTERM, _terminated)  # while no kernel runs; execute stops one itself
    if energy:
        from .cell_energy import ENERGY_ENV

        os.environ[ENERGY_ENV] = "on"  # the kernel inherits this process's environment
    location = _location(store, artifacts)
    overrides = parse_overrides(params)
    with progress("running", "cell", quiet=quiet) as shown:
        outcome = run(source, location, output=output, timeout_s=timeout, on_cell=shown.set, force=force,
                      overrides=overrides, on_epoch=lambda done, total: shown.set_inner(done, total, "epoch"))
    if outcome.generated is not None and outcome.generated.derived_file is not None:
        click.echo(f"plan: <{outcome.generated.plan.iri}> ({outcome.generated.derived_file}, derived from {source})")
    if outcome.run is None:
        click.echo(f"mlprov: run stopped ({outcome.error}) before it recorded anything; notebook saved to {outcome.notebook}",
                   err=True)
        sys.exit(outcome.stop.exit_code)
    click.echo(f"run {outcome.run}: {outcome.status.lower()}")
    click.echo(f"notebook: {outcome.notebook}")
    with open_store(location, read_only=True) as st:
        result = queries.run(st, queries.resolve("run-metrics"), {"run": outcome.run})
    if result.rows:
        click.echo(queries.to_table(result))
    if outcome.stop is not None:
        click.echo(f"mlprov: run stopped ({outcome.stop.reason}); stored as {outcome.status.lower()}, "
                   f"notebook saved to {outcome.notebook}", err=True)
        sys.exit(outcome.stop.exit_code)
    if not outcome.ok:
        click.echo(f"mlprov: the notebook failed: {outcome.error or outcome.status}", err=True)
        sys.exit(1)


@main.command("sweep")
@click.argument("plan_file", metavar="[PLAN]", required=False, type=click.Path(path_type=Path))
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=V1,V2,...",
              help="A parameter and the values to sweep, comma-separated (repeatable): every combination is a derived plan.")
@click.option("--random", "random_count", type=int, default=None, metavar="N", help="Run N points drawn from the grid instead of all.")
@click.option("--seed", type=int, default=None, help="The seed of --random's draw [default 0].")
@click.option("--executor", type=click.Choice(["dask", "local"]), default="dask", show_default=True,
              help="dask: in parallel on a Dask cluster; local: one after another in this process.")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT", help="An existing Dask cluster [default: a LocalCluster on 127.0.0.1].")
@click.option("--workers", type=int, default=None, help="Worker processes of the LocalCluster [default: the cores, at least 2, at most one a point].")
@click.option("--retries", type=int, default=2, show_default=True, help="Times a task whose kernel did not start is started again.")
@click.option("--rank-by", "rank_by", default="accuracy", show_default=True, metavar="RESULT",
              help="The result the summary ranks runs by, highest first (a test measure, or SPLIT:MEASURE).")
@click.option("--resume", "resume_iri", default=None, metavar="SWEEP", help="Run only the points of this sweep with no Completed run.")
@click.option("--timeout", type=int, default=None, help="Seconds a cell may run before its run is stopped.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@_force_option
@_quiet_option
@_artifacts_option
@_store_option
def sweep_command(plan_file: Path | None, params: tuple[str, ...], random_count: int | None, seed: int | None,
                  executor: str, scheduler: str | None, workers: int | None, retries: int, rank_by: str,
                  resume_iri: str | None, timeout: int | None, fmt: str, force: bool, quiet: bool,
                  artifacts: Path | None, store: str | None) -> None:
    """Run PLAN for every combination of the -p values, in parallel, as one sweep.

    Every point is checked before anything runs; each run is stored as it finishes, then
    the runs are listed best first. Ctrl-C stops the sweep, keeps what finished and records
    it as interrupted (exit 130); --resume SWEEP runs what is missing. Exit 1 when a point
    did not complete.
    """
    from . import queries
    from .progress import progress
    from .store import open_store
    from .sweep.grid import parse_axes
    from .sweep.running import Settings, resume, sweep

    signal.signal(signal.SIGTERM, _terminated)  # the sweep is then recorded as interrupted; exit 143
    location = _location(store, artifacts)
    settings = Settings(executor, workers, scheduler, retries, timeout)
    rank = queries.resolve("sweep-summary")
    queries.prepare(rank, {"sweep": "urn:mlprov:sweep:x", "rank_by": rank_by})  # a bad --rank-by: refused before running
    if resume_iri is not None and (params or random_count is not None):
        raise UserError("--resume runs the stored sweep's own points; leave out -p and --random")
    if resume_iri is None and plan_file is None:
        raise UserError("sweep: give the PLAN to sweep (or --resume SWEEP)")
    with progress("sweeping", "run", quiet=quiet, every_s=1.0) as shown:

        def on_point(point, done: int, total: int) -> None:
            shown.set(done, total)
            if point.error and point.status != "Completed":
                shown.write(f"mlprov: {', '.join(f'{n}={v}' for n, v in point.point)}: {point.status.lower()}: {point.error}")

        if resume_iri is not None:
            outcome = resume(resume_iri, location, settings, plan_file=plan_file, force=force, on_point=on_point)
        else:
            outcome = sweep(plan_file, location, parse_axes(params), settings, random_count=random_count, seed=seed,
                            force=force, on_point=on_point)
    click.echo(f"sweep {outcome.sweep}: {outcome.status.lower()}, {len(outcome.outcomes)} runs"
               + (f" ({outcome.skipped} points completed before)" if outcome.skipped else ""), err=True)
    with open_store(location, read_only=True) as st:
        result = queries.run(st, rank, {"sweep": outcome.sweep, "rank_by": rank_by})
    _print_result(result, fmt)
    if outcome.status == "Interrupted":
        sys.exit(130)
    if outcome.status != "Completed":
        sys.exit(1)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_quiet_option
@_store_option
def ingest(paths: tuple[Path, ...], quiet: bool, store: str | None) -> None:
    """Record runs of notebooks executed outside mlprov (papermill, nbconvert, JupyterLab).

    PATHS are journal files, journal folders or executed notebooks; by default every
    new or grown journal in the store's journal folder. A journal that cannot be stored
    is named on stderr and left for the next ingest; the others are stored; exit 2.
    """
    from .ingest import JournalsRefused
    from .progress import progress
    from .workflow import ingest_paths

    refusal = None
    with progress("ingesting", "run", quiet=quiet, every_s=1.0) as shown:
        try:
            results = ingest_paths(list(paths), _location(store), on_run=shown.set)
        except JournalsRefused as error:
            refusal, results = error, error.stored
    if refusal is not None:
        _print_ingested(results)
        lines = [str(refusal)] if len(refusal.refused) == 1 else [
            *map(str, refusal.refused),
            f"{len(refusal.refused)} journals refused (above) and left for the next ingest; "
            f"{len(results)} others stored",
        ]
        for line in lines:
            click.echo(f"mlprov: error: {line}", err=True)
        sys.exit(2)
    _print_ingested(results)
    if not results:
        click.echo("nothing new to ingest")


def _print_ingested(results: list) -> None:
    """One line a run, then a summary past INGEST_LINES runs."""
    for r in results[:INGEST_LINES]:
        click.echo(f"{r.run}: {r.status.lower()}, {r.triples} triples")
    if len(results) > INGEST_LINES:
        statuses = Counter(r.status.lower() for r in results)
        click.echo(
            f"... and {len(results) - INGEST_LINES} more: {len(results)} runs "
            f"({', '.join(f'{n} {status}' for status, n in sorted(statuses.items()))}), "
            f"{sum(r.triples for r in results):,} triples"
        )


def _print_result(result, fmt: str) -> None:
    from . import queries

    formatter = {"table": queries.to_table, "csv": queries.to_csv, "json": queries.to_sparql_json,
                 "jsonl": queries.to_jsonl}[fmt]
    click.echo(formatter(result), nl=fmt != "csv", color=True)  # color: click would strip ANSI codes from CSV data
    for note in result.notes:
        click.echo(f"mlprov: note: {note}", err=True)


def _timeout_option(f):
    return click.option(
        "--timeout", "timeout_s", type=float, default=DEFAULT_TIMEOUT_S, show_default=True, metavar="S",
        help="Seconds the query may run; then it is stopped (exit 2) and the store is free again.",
    )(f)


@main.command()
@click.option("-n", "--limit", type=click.IntRange(min=0), default=100, show_default=True,
              help="The most runs to list; 0 lists every run.")
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True,
              help="How many of the newest runs to skip: --offset 100 shows the second page.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--sweep", "sweep_iri", default=None, metavar="SWEEP",
              help="Only the runs of this sweep (urn:mlprov:sweep:ID), best test accuracy first, with their swept settings.")
@_timeout_option
@_store_option
def runs(limit: int, offset: int, fmt: str, sweep_iri: str | None, timeout_s: float, store: str | None) -> None:
    """List the recorded runs, newest first, a page at a time."""
    from . import queries

    if sweep_iri is not None:
        result = queries.run_stoppable(_location(store), queries.resolve("sweep-summary"), {"sweep": sweep_iri},
                                       timeout_s=timeout_s)
    else:
        result = queries.run_stoppable(_location(store), queries.resolve("runs"), {"limit": limit, "offset": offset},
                                       timeout_s=timeout_s)
    _print_result(result, fmt)


def _complete_query_name(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    """The canned queries' names, with their titles (shells that show help show them)."""
    from click.shell_completion import CompletionItem

    from .queries import load_library

    return [CompletionItem(name, help=q.title) for name, q in load_library().items() if name.startswith(incomplete)]


def _complete_query_param(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    """``NAME=`` for each parameter of the query already on the line.

    Click parses the line without the option being completed only when that option has a
    value, so with ``-p`` last the query is looked for among the line's words (COMP_WORDS,
    which click's bash, zsh and fish scripts all set).
    """
    import os
    import shlex

    from click.shell_completion import CompletionItem

    from . import queries

    library = queries.load_library()
    words = [ctx.params.get("spec") or "", *shlex.split(os.environ.get("COMP_WORDS", ""))]
    query = next((library[w] for w in words if w in library), None)
    if query is None:
        return []
    return [CompletionItem(f"{p.name}=", help=p.description) for p in query.params if f"{p.name}=".startswith(incomplete)]


@main.command()
@click.argument("spec", metavar="NAME|FILE.rq|SPARQL", required=False, shell_complete=_complete_query_name)
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="A query parameter; repeatable.",
              shell_complete=_complete_query_param)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--list", "list_", is_flag=True, help="List the canned queries and their parameters.")
@_timeout_option
@click.option("--allow-service", is_flag=True, help="Let a SERVICE clause send the query on to the server it names.")
@_store_option
def query(spec: str | None, params: tuple[str, ...], fmt: str, list_: bool, timeout_s: float, allow_service: bool,
          store: str | None) -> None:
    """Run a canned query, a .rq file or SPARQL text over the store (read-only).

    A parameter naming a run, plan or measure the store lacks is an error when the query
    requires it, a note on stderr when it is optional; Ctrl-C stops the query (exit 130).
    """
    from . import queries

    if list_:
        click.echo(queries.describe_library())
        return
    if not spec:
        raise UserError("query: give a query name, a .rq file or SPARQL text (see 'mlprov query --list')")
    raw = {}
    for item in params:
        name, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--param {item}: write NAME=VALUE")
        raw[name.strip()] = value
    canned = queries.resolve(spec)
    result = queries.run_stoppable(_location(store), canned, raw, timeout_s=timeout_s, allow_service=allow_service)
    _print_result(result, fmt)


@main.command()
@click.argument("plan_iri", metavar="PLAN_IRI")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Notebook to write.")
@_force_option
@_store_option
def regenerate(plan_iri: str, output: Path, force: bool, store: str | None) -> None:
    """Rebuild a notebook from a plan stored in the store, byte for byte."""
    from .workflow import regenerate as regenerate_plan

    plan = regenerate_plan(plan_iri, output, _location(store), force=force)
    click.echo(f"wrote {output} from stored plan <{plan.iri}>")


@main.command()
@click.argument("iri", metavar="IRI")
@click.option("-o", "--output", default="graph.html", show_default=True, type=click.Path(dir_okay=False, path_type=Path))
@_force_option
@_store_option
def browse(iri: str, output: Path, force: bool, store: str | None) -> None:
    """Write an interactive graph (HTML) of a plan or a run."""
    from . import browse as browser
    from .arguments import check_output
    from .store import open_store

    check_output(output, kind="page", force=force)
    with open_store(_location(store), create=False, read_only=True) as st:
        graph = browser.collect(st, iri)
    summary = browser.write_html(graph, iri, output)
    click.echo(f"wrote {output}: {summary.nodes} nodes, {summary.edges} edges; open it in a browser")


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on; anything but loopback lets others read the store.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port to listen on.")
@_timeout_option
@_artifacts_option
@_store_option
def serve(host: str, port: int, timeout_s: float, artifacts: Path | None, store: str | None) -> None:
    """Explore the store in the browser: runs, plans, graphs and queries (read-only)."""
    import uvicorn

    from .web import create_app

    location = _location(store, artifacts)
    app = create_app(location, timeout_s=timeout_s)
    if host not in _LOOPBACK:
        click.echo(f"mlprov serve: warning: listening on {host}: the app has no login, so anyone who can reach "
                   "this address can read the whole store", err=True)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"mlprov serve: http://{shown}:{port}/ over {location.display} (read-only); Ctrl-C stops")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


@main.command()
@click.option("--dir", "directory", default="mlprov-demo", show_default=True, type=click.Path(file_okay=False, path_type=Path))
def demo(directory: Path) -> None:
    """Plan → notebook → run → query → regenerate → graph, on the Iris data set."""
    from .demo import run_demo

    ok = run_demo(directory, echo=click.echo)
    sys.exit(0 if ok else 1)


# -- comparing runs ----------------------------------------------------------------


@main.command("diff")
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--all", "show_all", is_flag=True, help="List identical items too, not only their count.")
@_store_option
def diff_command(run_a: str, run_b: str, fmt: str, show_all: bool, store: str | None) -> None:
    """What differs between two runs, step by step: settings, data hashes, code, metrics, packages.

    RUN_A and RUN_B are run IRIs or run ids ('mlprov runs' lists them). Exit 0 whether
    or not they differ.
    """
    from .diff import diff_runs
    from .store import open_store

    with open_store(_location(store), create=False, read_only=True) as st:
        result = diff_runs(st, run_a, run_b)
    click.echo(result.to_json() if fmt == "json" else result.to_table(show_all=show_all))


# -- reproduction and interchange ------------------------------------------------------


@main.command()
@click.argument("run_iri", metavar="RUN_IRI")
@click.option("--tolerance", multiple=True, metavar="REL|NAME=REL",
              help="Relative tolerance for numeric values [default: 0, exactly the same numbers]; "
                   "NAME=REL gives one measure its own (accuracy=0.1). Repeatable.")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the regenerated and executed notebook [default: a new temporary folder].")
@click.option("--timeout", type=int, default=None, help="Seconds a cell may run before it is stopped.")
@_store_option
def reproduce(run_iri: str, tolerance: tuple[str, ...], directory: Path | None, timeout: int | None, store: str | None) -> None:
    """Run RUN_IRI again with the settings it used and compare every metric and data hash.

    Exit 0 when everything reproduced, 1 when something did not. The comparison is
    recorded in the store as an mlprov:Reproduction in its own named graph.
    """
    from .reproduce import parse_tolerances, reproduce as reproduce_run, summary, table

    rep = reproduce_run(run_iri, _location(store), tolerance=parse_tolerances(tolerance), directory=directory, timeout_s=timeout,
                        echo=lambda line: click.echo(line, err=True))
    click.echo(table(rep))
    click.echo(summary(rep))
    if rep.error:
        click.echo(f"mlprov: the new run failed: {rep.error}", err=True)
    sys.exit(0 if rep.reproduced else 1)


@main.command("export")
@click.argument("iri", metavar="IRI")
@click.option("--format", "fmt", type=click.Choice(["turtle", "trig", "jsonld", "nquads", "prov-json", "provn", "prov-xml"]),
              default="turtle", show_default=True,
              help="RDF (turtle, trig, jsonld, nquads; trig and nquads keep the named graphs) or W3C PROV (prov-json, provn, prov-xml).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="File to write [default: standard output].")
@_force_option
@_store_option
def export_command(iri: str, fmt: str, output: Path | None, force: bool, store: str | None) -> None:
    """Export a plan, or a run with its plan, as RDF or W3C PROV."""
    from . import export as exporter
    from .arguments import check_output, write_output
    from .store import open_store

    if output is not None:
        check_output(output, kind="file", force=force)
    with open_store(_location(store), create=False, read_only=True) as st:
        collected = exporter.collect(st, iri)
    text = exporter.export(collected, fmt)
    if output is None:
        click.echo(text, nl=False)
        return
    write_output(output, text.encode("utf-8"))
    click.echo(f"wrote {output}: the {collected.kind} <{collected.iri}> as {fmt}", err=True)


@main.command("import-mlprovcodegen")
@click.argument("file", metavar="FILE|DIR", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="The plan to write [default: FILE with .ttl]; for a DIR, the folder for the plans [default: beside each file].")
@click.option("--force", is_flag=True, help="Overwrite plan files that exist.")
@_quiet_option
@_store_option
def import_mlprovcodegen(file: Path, output: Path | None, force: bool, quiet: bool, store: str | None) -> None:
    """Turn MLProvCodeGen provenance files (one FILE, or every Provenance_*.json in DIR) into plans and legacy runs."""
    if file.is_dir():
        _import_folder(file, output, force, quiet, store)
        return
    from .legacy import import_file

    result = import_file(file, _location(store), output=output, force=force)
    click.echo(
        f"wrote {result.plan_file}: valid {result.plan.task.name} plan <{result.plan.iri}> "
        f"from MLProvCodeGen's {result.task_type} run ({result.settings} settings)"
    )
    click.echo(f"stored legacy run {result.run}: {result.status.lower()}, {result.metrics} metrics")
    if result.notes:
        click.echo(f"{len(result.notes)} choices the file does not state (comments in the plan, notes in the run):")
        for note in result.notes:
            click.echo(f"  {note}")
    click.echo(f"next: 'mlprov run {result.plan_file}', then 'mlprov reproduce {result.run}' to compare")


def _import_folder(folder: Path, output: Path | None, force: bool, quiet: bool, store: str | None) -> None:
    """Every file of the folder with its progress, then one row a file; exit 2 if any was refused."""
    from .legacy import import_folder
    from .progress import progress

    with progress("importing", "file", quiet=quiet, every_s=1.0) as shown:
        done = import_folder(folder, _location(store), output=output, force=force, on_file=shown.set)
    width = max(len(o.source.name) for o in done.outcomes)
    click.echo(f"{'file':<{width}}  result")
    for o in done.outcomes:
        if o.result is not None:
            r = o.result
            shown = (f"imported: {r.plan_file.name}, run {r.run} ({r.status.lower()}, {r.metrics} metrics, "
                     f"{len(r.notes)} notes)")
        else:
            shown = "refused: " + o.reason.removeprefix(f"{o.source}: ")
        click.echo(f"{o.source.name:<{width}}  {shown}")
    imported = len(done.outcomes) - len(done.refused)
    click.echo(f"{imported} imported, {len(done.refused)} refused, of {len(done.outcomes)} files in {folder}")
    if done.refused:
        click.echo(f"mlprov: error: {len(done.refused)} of {len(done.outcomes)} files refused (above); "
                   "the others are stored", err=True)
        sys.exit(2)


# -- the kernel --------------------------------------------------------------------------


@main.group("kernel")
def kernel_group() -> None:
    """Register this environment as a Jupyter kernel, for JupyterLab and papermill started elsewhere."""


@kernel_group.command("install")
@click.option("--name", default="mlprov", show_default=True, help="The kernel's name (papermill -k NAME).")
@click.option("--display-name", default="Python (mlprov-rdf)", show_default=True, help="The name JupyterLab shows.")
@click.option("--user", "where", flag_value="user", default=True, help="For this user (~/.local/share/jupyter) [default].")
@click.option("--sys-prefix", "where", flag_value="sys-prefix", help="Into this environment (sys.prefix/share/jupyter).")
@click.option("--prefix", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Under PREFIX/share/jupyter (add PREFIX/share/jupyter to JUPYTER_PATH to find it).")
def kernel_install(name: str, display_name: str, where: str, prefix: Path | None) -> None:
    """Register this environment's Python as a Jupyter kernel; notebooks generated from now on name it."""
    from .kernel import install_kernel

    if where == "sys-prefix" and prefix is None:
        prefix = Path(sys.prefix)
    folder = install_kernel(name=name, display_name=display_name, user=where == "user", prefix=prefix)
    click.echo(f"kernel {name} ({display_name}): {folder}, runs {sys.executable}")
    click.echo(f"use it: papermill NOTEBOOK OUT -k {name}; in JupyterLab, Kernel > Change Kernel > {display_name}")


# -- the store itself ------------------------------------------------------------------


@main.group("store")
def store_group() -> None:
    """Check the store folder, back it up (both read-only), or compact it."""


@store_group.command("check")
@_store_option
def store_check(store: str | None) -> None:
    """Read every quad once and count graphs by kind: exit 0 healthy, 1 runs without a status, 2 damaged."""
    from .store_check import check

    health = check(_location(store))
    click.echo(health.report())
    sys.exit(0 if health.ok else 1)


@store_group.command("backup")
@click.argument("directory", metavar="DIR", type=click.Path(path_type=Path))
@_store_option
def store_backup(directory: Path, store: str | None) -> None:
    """Copy the store's database into DIR, a new store folder: use it with --store DIR, or copy DIR/oxigraph back."""
    from .store_check import backup

    database = backup(_location(store), directory)
    click.echo(f"backed up the store into {database}; restore by copying it over the damaged oxigraph folder")


@store_group.command("compact")
@_store_option
def store_compact(store: str | None) -> None:
    """Merge the database's files, so that lookups read fewer: after many small imports (a large one compacts by itself)."""
    from .store_check import compact

    done = compact(_location(store), on_start=lambda: click.echo(
        "compacting the store (it rewrites the database; Ctrl-C stops it and leaves the store as it was) ...", err=True))
    click.echo(f"compacted the store in {done.seconds:.1f} s: {done.before / 1e6:,.0f} MB before, {done.after / 1e6:,.0f} MB after")


if __name__ == "__main__":  # pragma: no cover
    main()
