"""The pictures of docs/ARCHITECTURE.md, drawn from the code itself (Mermaid).

* :func:`state_machine_chart`: every state of a definition and every way out of it (Next, each
  Choice rule, Default, Catch), from ``statemachine/*.asl.json``.
* :func:`package_map`: the layer's packages and which imports which, from their import statements.

``make docs`` (``python -m novita_local.diagrams docs/ARCHITECTURE.md``) rewrites the blocks between
``<!-- generated: NAME -->`` and ``<!-- end: NAME -->``; tests/unit/test_docs.py fails when the
committed pictures no longer match the code.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from novita_local.template import TEMPLATE_PATH

ROOT = Path(TEMPLATE_PATH).parent
STATE_MACHINE = ROOT / "statemachine" / "start_instance.asl.json"
LAYER = ROOT / "layers" / "shared" / "novita_orchestrator"

_SHAPES = {
    "Task": ('["', '"]'),
    "Choice": ('{"', '"}'),
    "Wait": ('(["', '"])'),
    "Pass": ('[/"', '"/]'),
    "Succeed": ('(("', '"))'),
    "Fail": ('(("', '"))'),
}
_COMPARISONS = {
    "StringEquals": "=",
    "BooleanEquals": "=",
    "NumericEquals": "=",
    "NumericGreaterThan": ">",
    "NumericLessThan": "<",
}


def _condition(rule: dict[str, Any]) -> str:
    """A short label for a Choice rule: its comparisons, without the IsPresent guards."""
    if "And" in rule:
        return " and ".join(part for part in (_condition(r) for r in rule["And"]) if part)
    if "Or" in rule:
        return " or ".join(_condition(r) for r in rule["Or"])
    variable = str(rule.get("Variable", "")).removeprefix("$.")
    for operator, symbol in _COMPARISONS.items():
        if operator in rule:
            value = rule[operator]
            # Mermaid labels cannot hold double quotes: strings are shown bare.
            return f"{variable} {symbol} {value if isinstance(value, str) else json.dumps(value)}"
    if rule.get("IsNull") is False:
        return f"{variable} set"
    if rule.get("IsString") is True:
        return f"{variable} is text"
    if rule.get("IsNumeric") is True:
        return ""  # a guard of the comparison next to it
    return ""


def state_machine_chart(definition: dict[str, Any]) -> str:
    """A Mermaid flowchart of the definition: a node per state, an edge per way out."""
    lines = ["flowchart TD", f'    start(("start")) --> {definition["StartAt"]}']
    states: dict[str, dict[str, Any]] = definition["States"]
    for name, state in states.items():
        opening, closing = _SHAPES.get(state["Type"], ('["', '"]'))
        label = name
        resource = str(state.get("Resource", ""))
        if resource.startswith("arn:aws:states:::"):  # a service integration, not a Lambda
            label = f"{name}<br/><small>{resource.removeprefix('arn:aws:states:::')}</small>"
        lines.append(f"    {name}{opening}{label}{closing}")
    for name, state in states.items():
        for rule in state.get("Choices", []):
            lines.append(f'    {name} -- "{_condition(rule)}" --> {rule["Next"]}')
        if "Default" in state:
            lines.append(f'    {name} -- "otherwise" --> {state["Default"]}')
        if "Next" in state:
            lines.append(f"    {name} --> {state['Next']}")
        for catch in state.get("Catch", []):
            lines.append(f'    {name} -. "{", ".join(catch["ErrorEquals"])}" .-> {catch["Next"]}')
    return "\n".join(lines)


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def package_map(layer: Path = LAYER) -> str:
    """A Mermaid flowchart of the layer's packages (base modules together) and their imports."""
    package_of = {path: _unit(path, layer) for path in sorted(layer.rglob("*.py"))}
    edges: set[tuple[str, str]] = set()
    for path, unit in package_of.items():
        for module in _imports(path):
            parts = module.split(".")
            if parts[0] != "novita_orchestrator" or len(parts) < 2:
                continue
            target = parts[1] if (layer / parts[1]).is_dir() else "base"
            if target != unit:
                edges.add((unit, target))
    units = sorted(set(package_of.values()))
    lines = ["flowchart BT"]
    lines += [f"    {unit}[{unit}/]" if unit != "base" else '    base["base modules"]' for unit in units]
    lines += [f"    {source} --> {target}" for source, target in sorted(edges)]
    return "\n".join(lines)


def _unit(path: Path, layer: Path) -> str:
    relative = path.relative_to(layer)
    return relative.parts[0] if len(relative.parts) > 1 else "base"


def generated_blocks() -> dict[str, str]:
    definition = json.loads(STATE_MACHINE.read_text(encoding="utf-8"))
    return {"state-machine": state_machine_chart(definition), "package-map": package_map()}


def with_blocks(text: str, blocks: dict[str, str]) -> str:
    """``text`` with each ``<!-- generated: NAME -->`` ... ``<!-- end: NAME -->`` block rewritten."""
    for name, body in blocks.items():
        pattern = re.compile(rf"(<!-- generated: {name} -->\n).*?(<!-- end: {name} -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"no generated block named {name!r}")
        text = pattern.sub(_block_replacement(body), text)
    return text


def _block_replacement(body: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        return f"{match.group(1)}```mermaid\n{body}\n```\n{match.group(2)}"

    return replace


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rewrite the generated diagrams of a Markdown file.")
    parser.add_argument("markdown", type=Path, help="e.g. docs/ARCHITECTURE.md")
    args = parser.parse_args(argv)
    try:
        text = args.markdown.read_text(encoding="utf-8")
        args.markdown.write_text(with_blocks(text, generated_blocks()), encoding="utf-8")
    except (OSError, ValueError) as error:
        print(f"novita_local.diagrams: {args.markdown}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
