"""``make bench``: run every benchmark, write ``.bench/results.json`` and print a table.

Each ``tests/bench/bench_*.py`` module has ``run() -> dict[str, object]`` returning its figures
under dotted keys (``"rate_limiter.admitted_ratio"``); every figure is measured in this run.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path
from typing import Any

import tests.bench as bench_package

RESULTS = Path(".bench/results.json")


def _flatten(prefix: str, value: Any, into: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, inner, into)
    else:
        into[prefix] = value


def _shown(value: Any) -> str:
    if not isinstance(value, float):
        return str(value)
    # Small figures (dollars per startup) keep three significant digits; the rest three decimals.
    return f"{value:.3g}" if 0 < abs(value) < 0.1 else f"{value:.3f}"


def main(selected: list[str]) -> int:
    results: dict[str, Any] = {}
    modules = pkgutil.iter_modules(bench_package.__path__)
    names = sorted(m.name for m in modules if m.name.startswith("bench_"))
    for name in names:
        if selected and name.removeprefix("bench_") not in selected:
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        began = time.monotonic()
        module = importlib.import_module(f"tests.bench.{name}")
        results.update(module.run())
        # How long each part takes (docs/BENCHMARKS.md): context, not a figure to compare.
        results.setdefault("bench_seconds", {})[name.removeprefix("bench_")] = round(time.monotonic() - began)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    flat: dict[str, Any] = {}
    _flatten("", results, flat)
    width = max((len(k) for k in flat), default=10)
    for key, value in flat.items():
        shown = _shown(value)
        print(f"{key:<{width}}  {shown}")
    print(f"\nwritten to {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
