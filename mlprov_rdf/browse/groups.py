"""Folding: environment nodes and long metric series behind one node each.

A run's kernel, language, OS, hardware and packages, and a measure's per-epoch or
per-class values, would crowd the pipeline; one node stands for them until clicked. A
series is drawn as a metric (its values in the tooltip), not as a folded box: the web app
shows it as a curve on the run page.
"""

from __future__ import annotations

from collections import defaultdict

from rdflib import Literal

from ..series import points as epoch_points
from ..vocab import ENV_BASE, MLPROV, MLS, PROV, REPR, RUN_BASE
from .kinds import _ENV_CLASSES, _ENV_ORDER
from .model import _Group, _Index, _Node
from .text import _clip_lines, _value_text, compact

_GROUP_MIN = 3  # a metric series of this many values or more is folded


class _Groups(_Index):
    """Makes the hubs and hides their members."""

    def _make_groups(self) -> None:
        self._environment_groups()
        self._metric_series_groups()
        for group in self.groups.values():
            for member in group.members:
                self.nodes[member].group = group.hub
                self.nodes[member].hidden = True
            self.nodes[group.hub] = _Node(
                id=group.hub, kind=group.kind, label=group.label, tip=group.tip, hub=True
            )

    def _environment_groups(self) -> None:
        """One hub per run for kernel, language, OS, hardware and packages."""
        by_owner: dict[str | None, list[str]] = defaultdict(list)
        for term, node_id in self.ids.items():
            if self.nodes[node_id].kind != "environment":
                continue
            owners = sorted(
                self.ids[s]
                for s, p in self.incoming.get(term, [])
                if s in self.ids and self.nodes[self.ids[s]].kind == "run"
            )
            if not owners and str(term).startswith(RUN_BASE):
                prefix = str(term).split("/", 1)[0]
                owners = [prefix] if prefix in self.nodes else []
            by_owner[owners[0] if owners else None].append(node_id)
        for owner, members in sorted(by_owner.items(), key=lambda kv: kv[0] or ""):
            members.sort(key=self._env_sort_key)
            hub = f"mlprov-browse:environment:{owner or 'shared'}"
            counts: dict[str, int] = defaultdict(int)
            for m in members:
                counts[self._env_class(m)] += 1
            packages = counts.get(REPR + "Package", 0)
            language = next(
                (self.nodes[m].label for m in members if self._env_class(m) == REPR + "ProgrammingLanguage"), None
            )
            detail = [language] if language else []
            if packages:
                detail.append(f"{packages} package{'s' if packages != 1 else ''}")
            if counts.get(MLPROV + "Hardware"):
                detail.append("hardware")
            label = "Environment" + ("\n" + ", ".join(detail) if detail else "")
            rows = [[compact(self._env_class(m)).split(":")[-1], [[self.nodes[m].label, ""]]] for m in members]
            tip = {"head": "Environment", "kind": f"{len(members)} nodes, click to show them", "iri": None, "rows": rows}
            self.groups[hub] = _Group(
                hub=hub, kind="environment", owner=owner, members=members, star=True,
                redirect_all=False, label=label, tip=tip,
            )

    def _env_class(self, node_id: str) -> str:
        types = self.types.get(self._terms[node_id], set()) & _ENV_CLASSES
        return min(types, key=lambda t: _ENV_ORDER[t]) if types else ENV_BASE

    def _env_sort_key(self, node_id: str) -> tuple:
        return (_ENV_ORDER.get(self._env_class(node_id), 9), self.nodes[node_id].label.lower(), node_id)

    def _metric_series_groups(self) -> None:
        """Per-epoch and per-class values of one measure become one node, so 100 epochs stay one box."""
        series: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for term, node_id in self.ids.items():
            if self.nodes[node_id].kind != "metric":
                continue
            measure = self._first(term, MLS + "specifiedBy")
            maker = self._first(term, PROV + "wasGeneratedBy")
            literal = self._first(term, MLPROV + "series")
            if literal is not None:  # a series node: its epochs are in its literal
                values = [(str(e), _value_text(Literal(v))) for e, v in epoch_points(str(literal), None, None)]
                self._series_hub(str(measure) if measure else "", "epoch", self.ids.get(maker, "") if maker else "",
                                 [node_id], values)
                continue
            if self._first(term, MLPROV + "epoch") is not None:
                axis = "epoch"
            elif self._first(term, MLPROV + "forClass") is not None:
                axis = "class"
            else:
                continue
            series[(str(measure) if measure else "", axis, self.ids.get(maker, "") if maker else "")].append(node_id)
        for (measure, axis, maker), members in sorted(series.items()):
            if len(members) < _GROUP_MIN:
                continue
            members.sort(key=lambda m: self._series_key(m, axis))
            self._series_hub(measure, axis, maker, members,
                             [(self._series_axis(m, axis), self._series_value(m)) for m in members])

    def _series_hub(self, measure: str, axis: str, maker: str, members: list[str], values: list[tuple[str, str]]) -> None:
        """One node for a series' values (by epoch or class), its values in the tooltip."""
        name = compact(measure).split(":")[-1] if measure else "metric"
        hub = f"mlprov-browse:series:{maker}:{measure}:{axis}"
        last = values[-1][1] if axis == "epoch" and values else ""
        label = f"{name} per {axis}\n{len(values)} values" + (f", last {last}" if last else "")
        shown = values if len(values) <= 20 else values[:10] + [("…", "…")] + values[-10:]
        rows = [[f"{axis} {a}" if a != "…" else a, [[v, ""]]] for a, v in shown]
        tip = {"head": f"{name} per {axis}", "kind": f"{len(values)} values, click to show them",
               "iri": None, "rows": rows}
        self.groups[hub] = _Group(
            hub=hub, kind="metric", owner=maker or None, members=members, star=False,
            redirect_all=True, label=_clip_lines(label), tip=tip,
        )

    def _series_axis(self, node_id: str, axis: str) -> str:
        term = self._terms[node_id]
        value = self._first(term, MLPROV + ("epoch" if axis == "epoch" else "forClass"))
        return _value_text(value) if value is not None else "?"

    def _series_value(self, node_id: str) -> str:
        value = self._first(self._terms[node_id], MLS + "hasValue")
        return _value_text(value) if value is not None else ""

    def _series_key(self, node_id: str, axis: str) -> tuple:
        text = self._series_axis(node_id, axis)
        try:
            return (0, float(text), text, node_id)
        except ValueError:
            return (1, 0.0, text, node_id)
