"""The one logger and metrics object every module imports (Powertools)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

# Service name and namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE
# (set in template.yaml); the defaults keep local runs and tests quiet and consistent.
logger = Logger(service="novita-orchestrator")
metrics = Metrics(namespace="NovitaOrchestrator", service="novita-orchestrator")
