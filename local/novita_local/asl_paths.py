"""Check that every path a state machine reads is there on AWS, not only on our local engine.

AWS fails an execution with ``States.Runtime`` when a state reads a JSONPath that is missing (a
``.$`` parameter, ``SecondsPath``, a Fail's ``CausePath``, a Choice ``Variable`` ...), and a Catch
on ``States.ALL`` does not catch it; moto's interpreter forgives both. So this check proves, from
the definition alone, that each read is guaranteed:

* a data-flow over the graph computes, for each state, the paths every way into it guarantees: set
  by a predecessor's ``ResultPath`` (a Task's result has an unknown shape: only its root is known),
  a Pass state's ``Result`` / ``Parameters``, a Catch's ``ResultPath`` (the error output always has
  ``Error``; ``Cause`` only usually), or a Choice rule that tested them; the execution input is
  whatever ``StartExecution`` was given, so nothing in it is guaranteed;
* in a Choice rule, a comparison on a ``Variable`` must come after an ``IsPresent: true`` of it in
  the same ``And`` (or the variable must be guaranteed on every way in).

``python -m novita_local.asl_paths statemachine/*.asl.json`` prints one line per unguarded read
(file, state, field, path) and exits 1, or exits 0 when every read is guaranteed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Path_ = tuple[str, ...]
#: Paths guaranteed at a point of the graph; None = not reached yet (the data-flow's "everything").
Known = frozenset[Path_]

ROOT: Path_ = ()
#: What a Catch puts at its ResultPath: AWS always sets Error; Cause is "usually" there.
ERROR_OUTPUT: Known = frozenset({ROOT, ("Error",)})
#: The context object ($$): always present on every state.
CONTEXT_PATHS: Known = frozenset(
    {
        ROOT,
        ("Execution",),
        ("Execution", "Id"),
        ("Execution", "Name"),
        ("Execution", "StartTime"),
        ("Execution", "RoleArn"),
        ("Execution", "Input"),
        ("State",),
        ("State", "Name"),
        ("State", "EnteredTime"),
        ("State", "RetryCount"),
        ("StateMachine",),
        ("StateMachine", "Id"),
        ("StateMachine", "Name"),
    }
)
# Fields whose value is one JSONPath the state reads from its (effective) input.
_PATH_FIELDS = {
    "Wait": ("SecondsPath", "TimestampPath"),
    "Fail": ("ErrorPath", "CausePath"),
    "Task": ("TimeoutSecondsPath", "HeartbeatSecondsPath"),
    "Map": ("ItemsPath", "MaxConcurrencyPath", "ToleratedFailureCountPath", "ToleratedFailurePercentagePath"),
}
_PAYLOAD_FIELDS = ("Parameters", "ItemSelector")
_COMPARATOR_PATH_SUFFIX = "Path"
_SEGMENT = re.compile(r"\.([A-Za-z0-9_\-]+)|\['([^']*)'\]|\[(\d+|\*)\]")
_INTRINSIC = re.compile(r"^States\.[A-Za-z]+\(")
_PATH_IN_INTRINSIC = re.compile(r"\$\$?(?:\.[A-Za-z0-9_\-]+|\['[^']*'\]|\[\d+\])*")


class UnsupportedPath(ValueError):
    """A JSONPath this check cannot reason about (filters, recursive descent, ...)."""


def parse_path(text: str) -> tuple[bool, Path_]:
    """``$.a.b[0]`` -> (False, ("a", "b", "[0]")); ``$$.Execution.Name`` -> (True, ("Execution", "Name"))."""
    context = text.startswith("$$")
    rest = text[2:] if context else text[1:] if text.startswith("$") else None
    if rest is None:
        raise UnsupportedPath(f"{text!r} is not a JSONPath (it must start with $)")
    segments: list[str] = []
    position = 0
    while position < len(rest):
        match = _SEGMENT.match(rest, position)
        if match is None:
            raise UnsupportedPath(f"{text!r}: cannot read {rest[position:]!r}")
        name, quoted, index = match.groups()
        segments.append(name if name is not None else quoted if quoted is not None else f"[{index}]")
        position = match.end()
    return context, tuple(segments)


def show(path: Path_, context: bool = False) -> str:
    text = "$$" if context else "$"
    for segment in path:
        text += segment if segment.startswith("[") else f".{segment}"
    return text


def with_prefixes(paths: Iterable[Path_]) -> Known:
    """A guarantee of ``$.a.b`` is one of ``$.a`` too (and of ``$``)."""
    closed: set[Path_] = {ROOT}
    for path in paths:
        closed.update(path[:length] for length in range(len(path) + 1))
    return frozenset(closed)


def value_paths(value: Any) -> Known:
    """The paths a JSON value certainly has: every key of every nested object (not list items)."""
    found: set[Path_] = {ROOT}

    def walk(node: Any, at: Path_) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                name = key[:-2] if key.endswith(".$") else key
                found.add((*at, name))
                if not key.endswith(".$"):
                    walk(child, (*at, name))

    walk(value, ROOT)
    return frozenset(found)


def rerooted(known: Known, at: Path_) -> Known:
    """What is known about ``$`` after ``InputPath``/``OutputPath`` = ``at``."""
    return frozenset(path[len(at) :] for path in known if path[: len(at)] == at) | {ROOT}


def selected(known: Known, path: str | None) -> Known:
    """What is known after ``InputPath`` / ``OutputPath`` (null: an empty object)."""
    if path is None:
        return frozenset({ROOT})
    return rerooted(known, parse_path(path)[1])


def placed(known: Known, result: Known, result_path: str | None) -> Known:
    """``ResultPath``: the result replaces what was at its place (null: the result is dropped)."""
    if result_path is None:
        return known
    _, at = parse_path(result_path)
    kept = {path for path in known if path[: len(at)] != at}
    return with_prefixes(kept | {(*at, *path) for path in result})


def paths_in_intrinsic(expression: str) -> list[str]:
    """The JSONPaths an intrinsic function reads (``States.Format('{}', $.a)`` -> ["$.a"])."""
    without_strings = re.sub(r"'(?:[^'\\]|\\.)*'", "''", expression)
    return _PATH_IN_INTRINSIC.findall(without_strings)


@dataclass(frozen=True)
class Problem:
    state: str
    field: str
    path: str
    reason: str

    def describe(self, where: str) -> str:
        return f"{where}: {self.state}: {self.field} reads {self.path}, {self.reason}"


def payload_reads(value: Any, field: str) -> Iterator[tuple[str, str]]:
    """(field, path) for every ``.$`` value of a Parameters-like object (paths and intrinsics)."""
    if isinstance(value, dict):
        for key, child in value.items():
            where = f"{field}.{key}"
            if key.endswith(".$") and isinstance(child, str):
                if _INTRINSIC.match(child):
                    yield from ((where, path) for path in paths_in_intrinsic(child))
                else:
                    yield where, child
            else:
                yield from payload_reads(child, where)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from payload_reads(child, f"{field}[{index}]")


class Graph:
    """The states of one ``States`` block (the top level, or a Parallel branch / Map iterator)."""

    def __init__(self, definition: Mapping[str, Any], name: str) -> None:
        self.name = name
        self.start: str = definition["StartAt"]
        self.states: dict[str, dict[str, Any]] = dict(definition["States"])
        if definition.get("QueryLanguage") == "JSONata":
            raise UnsupportedPath(f"{name}: JSONata states are not checked by this tool")

    def check(self, entry: Known) -> list[Problem]:
        known = self.flow(entry)
        problems: list[Problem] = []
        for name, state in self.states.items():
            at = known.get(name)
            if at is None:
                continue  # unreachable: nothing to prove
            problems.extend(self.state_problems(name, state, at, known))
        return problems

    # --- data-flow ------------------------------------------------------------------------------

    def flow(self, entry: Known) -> dict[str, Known]:
        """For each reachable state, the paths guaranteed on every way into it (a fixed point)."""
        known: dict[str, Known] = {self.start: entry}
        pending = [self.start]
        while pending:
            name = pending.pop()
            for successor, arriving in self.edges(name, self.states[name], known[name]):
                if successor not in self.states:
                    raise UnsupportedPath(f"{self.name}: {name} goes to unknown state {successor!r}")
                before = known.get(successor)
                merged = arriving if before is None else before & arriving
                if merged != before:
                    known[successor] = merged
                    pending.append(successor)
        return known

    def edges(self, name: str, state: Mapping[str, Any], at: Known) -> Iterator[tuple[str, Known]]:
        kind = state.get("Type")
        if kind == "Choice":
            for rule in state.get("Choices", []):
                _, guaranteed = rule_guarantees(rule, at)
                yield rule["Next"], with_prefixes(at | guaranteed)
            if "Default" in state:
                yield state["Default"], at
            return
        if kind in {"Succeed", "Fail"}:
            return
        for catcher in state.get("Catch", []):
            yield catcher["Next"], placed(at, ERROR_OUTPUT, catcher.get("ResultPath", "$"))
        if "Next" in state:
            yield state["Next"], self.output(state, at)

    def output(self, state: Mapping[str, Any], at: Known) -> Known:
        effective = self.effective_input(state, at)
        kind = state.get("Type")
        if kind == "Pass":
            if "Result" in state:
                result = value_paths(state["Result"])
            elif "Parameters" in state:
                result = value_paths(state["Parameters"])
            else:
                result = effective
        elif kind == "Wait":
            return self.apply_output_path(state, effective)
        elif "ResultSelector" in state:
            result = value_paths(state["ResultSelector"])
        else:
            result = frozenset({ROOT})  # a service's answer: only that it exists is known
        merged = placed(at, result, state.get("ResultPath", "$"))
        return self.apply_output_path(state, merged)

    @staticmethod
    def effective_input(state: Mapping[str, Any], at: Known) -> Known:
        return selected(at, state.get("InputPath", "$"))

    @staticmethod
    def apply_output_path(state: Mapping[str, Any], merged: Known) -> Known:
        return selected(merged, state.get("OutputPath", "$"))

    # --- reads ----------------------------------------------------------------------------------

    def state_problems(
        self, name: str, state: Mapping[str, Any], at: Known, known: Mapping[str, Known]
    ) -> list[Problem]:
        kind = state.get("Type")
        problems: list[Problem] = []
        if kind == "Choice":
            for index, rule in enumerate(state.get("Choices", [])):
                rule_problems, _ = rule_guarantees(rule, at)
                problems.extend(
                    Problem(name, f"Choices[{index}].{field}", path, reason)
                    for field, path, reason in rule_problems
                )
            return problems
        input_path = state.get("InputPath")
        if isinstance(input_path, str):
            problems.extend(self.unguarded(name, "InputPath", input_path, at, known))
        effective = self.effective_input(state, at)
        reads: list[tuple[str, str]] = []
        for field in _PAYLOAD_FIELDS:
            reads.extend(payload_reads(state.get(field), field))
        for field in _PATH_FIELDS.get(str(kind), ()):
            value = state.get(field)
            if isinstance(value, str):
                paths = paths_in_intrinsic(value) if _INTRINSIC.match(value) else [value]
                reads.extend((field, path) for path in paths)
        for field, path in reads:
            problems.extend(self.unguarded(name, field, path, effective, known))
        output_path = state.get("OutputPath")
        if isinstance(output_path, str) and kind not in {"Succeed", "Fail", "Choice"}:
            # OutputPath reads the state's output (its input with the result placed).
            merged = self.output({**state, "OutputPath": "$"}, at)
            problems.extend(self.unguarded(name, "OutputPath", output_path, merged, known))
        for branch_index, branch in enumerate(state.get("Branches", [])):
            inner = Graph(branch, f"{self.name}/{name}.Branches[{branch_index}]")
            problems.extend(inner.check(self.branch_entry(state, effective)))
        iterator = state.get("ItemProcessor") or state.get("Iterator")
        if iterator is not None:
            inner = Graph(iterator, f"{self.name}/{name}.ItemProcessor")
            selector = state.get("ItemSelector") or state.get("Parameters")
            problems.extend(inner.check(value_paths(selector) if selector else frozenset({ROOT})))
        return problems

    @staticmethod
    def branch_entry(state: Mapping[str, Any], effective: Known) -> Known:
        parameters = state.get("Parameters")
        return value_paths(parameters) if parameters is not None else effective

    def unguarded(
        self, name: str, field: str, text: str, at: Known, known: Mapping[str, Known]
    ) -> list[Problem]:
        try:
            context, path = parse_path(text)
        except UnsupportedPath as error:
            return [Problem(name, field, text, f"which this check cannot follow ({error})")]
        if context:
            if path in CONTEXT_PATHS:
                return []
            return [Problem(name, field, text, "which the context object does not always have")]
        if path in at:
            return []
        return [Problem(name, field, text, self.not_guaranteed_because(name, path, known))]

    def not_guaranteed_because(self, name: str, path: Path_, known: Mapping[str, Known]) -> str:
        """Name a way into the state that does not guarantee the path (the place to add a guard)."""
        for other, state in self.states.items():
            at = known.get(other)
            if at is None:
                continue
            for successor, arriving in self.edges(other, state, at):
                if successor == name and path not in arriving:
                    return f"which is not guaranteed when it is entered from {other}"
        if name == self.start:
            return "which the execution input does not guarantee (it is whatever StartExecution got)"
        return "which the states before it do not guarantee"


def rule_guarantees(rule: Mapping[str, Any], at: Known) -> tuple[list[tuple[str, str, str]], Known]:
    """(problems, paths guaranteed when the rule is true) for one Choice rule, evaluated with ``at``."""
    if "And" in rule:
        problems: list[tuple[str, str, str]] = []
        known = at
        guaranteed: set[Path_] = set()
        for index, child in enumerate(rule["And"]):
            child_problems, child_guaranteed = rule_guarantees(child, known)
            problems.extend((f"And[{index}].{field}", path, why) for field, path, why in child_problems)
            guaranteed |= child_guaranteed
            known = with_prefixes(known | child_guaranteed)  # And stops at the first false condition
        return problems, with_prefixes(guaranteed)
    if "Or" in rule:
        problems = []
        common: Known | None = None
        for index, child in enumerate(rule["Or"]):
            child_problems, child_guaranteed = rule_guarantees(child, at)
            problems.extend((f"Or[{index}].{field}", path, why) for field, path, why in child_problems)
            common = child_guaranteed if common is None else common & child_guaranteed
        return problems, common or frozenset({ROOT})
    if "Not" in rule:
        child_problems, _ = rule_guarantees(rule["Not"], at)
        return [(f"Not.{field}", path, why) for field, path, why in child_problems], frozenset({ROOT})
    return _comparison(rule, at)


def _comparison(rule: Mapping[str, Any], at: Known) -> tuple[list[tuple[str, str, str]], Known]:
    variable = rule.get("Variable")
    if not isinstance(variable, str):
        return [], frozenset({ROOT})
    context, path = parse_path(variable)
    problems: list[tuple[str, str, str]] = []
    operators = [key for key in rule if key not in {"Variable", "Next", "Comment"}]
    if operators == ["IsPresent"]:
        present = rule["IsPresent"] is True and not context
        return [], with_prefixes([path]) if present else frozenset({ROOT})
    if not _available(context, path, at):
        problems.append(("Variable", variable, "with no IsPresent before it in the same rule"))
    for operator in operators:
        operand = rule[operator]
        if operator.endswith(_COMPARATOR_PATH_SUFFIX) and isinstance(operand, str):
            operand_context, operand_path = parse_path(operand)
            if not _available(operand_context, operand_path, at):
                problems.append((operator, operand, "with no IsPresent before it in the same rule"))
    return problems, frozenset({ROOT}) if context else with_prefixes([path])


def _available(context: bool, path: Path_, at: Known) -> bool:
    return path in (CONTEXT_PATHS if context else at)


def check_definition(definition: Mapping[str, Any]) -> list[Problem]:
    """Every unguarded read of a state machine definition (an empty list: all guaranteed)."""
    return Graph(definition, "StateMachine").check(frozenset({ROOT}))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m novita_local.asl_paths",
        description="Fail on any JSONPath a state machine reads that is not guaranteed to be there.",
    )
    parser.add_argument("definitions", nargs="+", type=Path, help="Amazon States Language files")
    args = parser.parse_args(argv)
    failed = False
    for definition_path in args.definitions:
        try:
            definition = json.loads(definition_path.read_text(encoding="utf-8"))
            problems = check_definition(definition)
        except (OSError, json.JSONDecodeError, UnsupportedPath, KeyError) as error:
            print(f"{definition_path}: cannot check: {error}", file=sys.stderr)
            failed = True
            continue
        for problem in problems:
            print(problem.describe(str(definition_path)), file=sys.stderr)
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
