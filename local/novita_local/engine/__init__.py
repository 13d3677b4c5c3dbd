"""The embedded local AWS engine: the template's state machines and handlers on moto, in process."""

from novita_local.engine.engine import EngineError, ExecutionOutcome, LocalEngine, QueueMessage
from novita_local.engine.lambda_patch import Invocation, LambdaContext
from novita_local.engine.resolve import TemplateResolutionError

__all__ = [
    "EngineError",
    "ExecutionOutcome",
    "Invocation",
    "LambdaContext",
    "LocalEngine",
    "QueueMessage",
    "TemplateResolutionError",
]
