"""Kinds of node: what each looks like, and which RDF classes make a node that kind.

The legend, the node colours and the classification of terms all read these tables, so a
new kind is added in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..vocab import MLPROV, PPLAN, PROV, REPR

@dataclass(frozen=True)
class Kind:
    """How one kind of node looks, and what the legend says about it."""

    name: str
    legend: str
    description: str
    fill: str
    border: str
    shape: str


#: Every kind the browser knows, in legend order. Colours are light fills with dark borders
#: so that black labels stay readable; shapes differ too, for readers who cannot tell the
#: colours apart.
KINDS: tuple[Kind, ...] = (
    Kind("plan", "plan", "the experiment plan", "#6baed6", "#08519c", "box"),
    Kind("step", "step", "a planned step of the experiment, in plan order", "#c6dbef", "#2171b5", "box"),
    Kind("code", "code step", "a planned step whose Python code the plan's author wrote (mlprov:code)",
         "#99d8c9", "#00695c", "box"),
    Kind("parameter", "parameter", "a plan variable: a parameter value or a planned output",
         "#fff3b0", "#b59f00", "ellipse"),
    Kind("setting", "setting", "the value a run used for a plan parameter", "#ffd98e", "#b8860b", "ellipse"),
    Kind("run", "run", "one execution of the plan", "#fc9272", "#a50f15", "box"),
    Kind("cell", "cell execution", "one executed notebook cell, in execution order",
         "#fdd0a2", "#d94801", "box"),
    Kind("data", "data", "a data set or a split of it", "#a1d99b", "#238b45", "database"),
    Kind("model", "model", "a trained model", "#dab6e8", "#6a3d9a", "box"),
    Kind("metric", "metric", "an evaluation result", "#f7b6d2", "#c51b7d", "ellipse"),
    Kind("file", "file", "a file the run wrote or read (a figure, a checkpoint), kept with its sha256",
         "#fde0ef", "#8e0152", "box"),
    Kind("output", "code output", "a value a code step's cell left in one of its output variables",
         "#e0f3db", "#2b8cbe", "ellipse"),
    Kind("agent", "agent", "a person or program responsible", "#e3d3bd", "#7f5a2e", "ellipse"),
    Kind("environment", "environment", "software, packages and hardware a run used (click to expand)",
         "#d9d9d9", "#636363", "box"),
    Kind("other", "other", "anything else", "#f7f7f7", "#969696", "ellipse"),
)
_KIND = {k.name: k for k in KINDS}
_KIND_ORDER = {k.name: i for i, k in enumerate(KINDS)}

_STEP_CLASSES = frozenset(
    MLPROV + name
    for name in (
        "SetupStep",
        "DataIngestionStep",
        "DataPreparationStep",
        "DataSegregationStep",
        "ModelDefinitionStep",
        "TrainingStep",
        "EvaluationStep",
    )
) | {PPLAN + "Step", REPR + "Cell"}
_ENV_CLASSES = frozenset(
    {REPR + "Package", MLPROV + "Hardware", REPR + "OperatingSystem", REPR + "ProgrammingLanguage", REPR + "Kernel"}
)
_ENV_ORDER = {
    REPR + "Kernel": 0,
    REPR + "ProgrammingLanguage": 1,
    REPR + "OperatingSystem": 2,
    MLPROV + "Hardware": 3,
    REPR + "Package": 4,
}
_AGENT_CLASSES = frozenset(
    {PROV + "Agent", PROV + "Person", PROV + "SoftwareAgent", PROV + "Organization"}
)
_SKIPPED_CLASSES = frozenset({PPLAN + "Bundle", PROV + "Bundle"})
#: Untyped objects of these predicates still get the right kind.
_KIND_HINTS = {
    MLPROV + "plan": "plan",
    PROV + "hadPlan": "plan",
    PPLAN + "isStepOfPlan": "plan",
    PPLAN + "isVariableOfPlan": "plan",
    PPLAN + "correspondsToStep": "step",
    PPLAN + "correspondsToVariable": "parameter",
    PROV + "wasAttributedTo": "agent",
    PROV + "wasAssociatedWith": "agent",
}
