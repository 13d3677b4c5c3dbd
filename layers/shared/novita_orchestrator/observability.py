"""The one logger and metrics object every module imports (Powertools)."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics

# The same names as POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE in template.yaml, so local
# runs and tests log and count exactly as the deployed functions do.
logger = Logger(service="novita-orchestrator")
metrics = Metrics(namespace="NovitaOrchestrator", service="novita-orchestrator")

# Steps that count nothing on a given call are normal here; Powertools would warn on every such call.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
