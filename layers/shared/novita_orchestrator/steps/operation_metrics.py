"""Per-operation metrics, emitted once the operation has ended (namespace NovitaOrchestrator).

``StartupDurationSeconds`` (request -> ready, ready operations only), ``PollsPerStartup`` and
``HealthChecksPerStartup`` (every ended operation), ``OperationsReady`` / ``OperationsFailed``.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from novita_orchestrator.observability import metrics
from novita_orchestrator.store.operations_store import OperationRecord
from novita_orchestrator.times import epoch_of_iso


def record_operation_metrics(record: OperationRecord, *, outcome: str, now: float) -> None:
    if outcome == "ready":
        started = epoch_of_iso(record.created_at)
        if started is not None:
            metrics.add_metric(
                name="StartupDurationSeconds", unit=MetricUnit.Seconds, value=max(0.0, now - started)
            )
        metrics.add_metric(name="OperationsReady", unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="OperationsFailed", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="PollsPerStartup", unit=MetricUnit.Count, value=record.polls)
    metrics.add_metric(name="HealthChecksPerStartup", unit=MetricUnit.Count, value=record.health_checks)
