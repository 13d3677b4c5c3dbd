"""Run the template's Lambda handlers in this process when moto's Lambda backend is invoked.

moto runs Lambda code in Docker (or, without Docker, echoes the payload). The local engine instead
imports ``<CodeUri>/<module>.py`` under a unique module name and calls its handler with the
function's environment, and answers like the Lambda service: the JSON result, or an ``Unhandled``
function error whose payload is ``{errorMessage, errorType, requestId, stackTrace}`` so the state
machine sees ``Error`` = the exception class name and Retry/Catch work on it.

A handler call sees its function's environment (runtime variables, the template's Environment, the
overrides) through :func:`novita_orchestrator.environment.function_environment`, a context variable
of the calling thread: concurrent calls of different functions each read their own, at once, and
``os.environ`` is never rewritten under other threads. (Code that reads ``os.environ`` directly sees
the process's environment; the service's settings read the seam.)
"""

from __future__ import annotations

import decimal
import importlib.util
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from moto.awslambda.models import LambdaBackend
from moto.awslambda_simple.models import LambdaSimpleBackend

from novita_local.engine.wiring import AwsPlace, FunctionSpec
from novita_orchestrator.environment import function_environment

Handler = Callable[[Any, Any], Any]


@dataclass
class LambdaContext:
    """The attributes of the Python runtime's context object that handlers and Powertools read."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_monotonic: float
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline_monotonic - time.monotonic()) * 1000))


@dataclass(frozen=True)
class Invocation:
    """One call of a handler, as the engine saw it (for tests and the demo's report)."""

    function_logical_id: str
    request_id: str
    event: Any
    error_type: str | None


@dataclass(frozen=True)
class InjectedFailure:
    """A failure the engine reports for one invocation instead of the handler's answer (fault tests).

    ``after_handler`` False: the service fails before the code runs; True: the handler runs (its side
    effects happen) and then its answer is lost, as when the runtime crashes on the way out.
    """

    error_type: str = "Lambda.ServiceException"
    message: str = "injected: the Lambda service failed this invocation"
    after_handler: bool = False


class _LambdaFailure(Exception):
    """A failure the Lambda runtime reports with a ``Runtime.*`` error type, not the handler's own."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class InProcessFunction:
    """One template function: its handler module, loaded at the first invocation (the cold start)."""

    def __init__(self, spec: FunctionSpec, place: AwsPlace, environment_overrides: Mapping[str, str]) -> None:
        self.spec = spec
        self._place = place
        self._environment_overrides = dict(environment_overrides)
        self._handler: Handler | None = None
        # One container per function: concurrent first calls wait for one cold start, not one each.
        self._load_lock = threading.Lock()
        self.module_name = f"_novita_local_function_{spec.logical_id}_{uuid.uuid4().hex[:8]}"

    def environment(self) -> dict[str, str]:
        """What the Lambda runtime would set, then the template's variables, then the overrides."""
        spec = self.spec
        runtime = {
            "AWS_REGION": self._place.region,
            "AWS_DEFAULT_REGION": self._place.region,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            # Tracing: Active in the template; there is no X-Ray daemon locally.
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        return {**runtime, **spec.environment, **self._environment_overrides}

    def handler(self) -> Handler:
        with self._load_lock:
            if self._handler is None:
                self._handler = self._load_handler()
            return self._handler

    def unload(self) -> None:
        sys.modules.pop(self.module_name, None)
        self._handler = None

    def _load_handler(self) -> Handler:
        spec = self.spec
        module_label = spec.handler_file.stem
        if not spec.handler_file.is_file():
            raise _LambdaFailure(
                "Runtime.ImportModuleError",
                f"Unable to import module '{module_label}': no {spec.handler_file.name}",
            )
        import_spec = importlib.util.spec_from_file_location(self.module_name, spec.handler_file)
        if import_spec is None or import_spec.loader is None:
            raise _LambdaFailure("Runtime.ImportModuleError", f"Unable to import module '{module_label}'")
        module: ModuleType = importlib.util.module_from_spec(import_spec)
        sys.modules[self.module_name] = module
        # The function's own folder is importable during its cold start, as /var/task is on Lambda. A new
        # list, not an insert: another thread's import may be walking the current one.
        sys.path = [str(spec.code_dir), *sys.path]
        try:
            import_spec.loader.exec_module(module)
        except ImportError as exc:
            sys.modules.pop(self.module_name, None)
            raise _LambdaFailure(
                "Runtime.ImportModuleError", f"Unable to import module '{module_label}': {exc}"
            ) from exc
        except SyntaxError as exc:
            sys.modules.pop(self.module_name, None)
            raise _LambdaFailure(
                "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_label}': {exc}"
            ) from exc
        except BaseException:
            sys.modules.pop(self.module_name, None)
            raise
        finally:
            sys.path = _without_first(sys.path, str(spec.code_dir))
        handler = getattr(module, spec.handler_attribute, None)
        if not callable(handler):
            raise _LambdaFailure(
                "Runtime.HandlerNotFound",
                f"Handler '{spec.handler_attribute}' missing on module '{module_label}'",
            )
        return handler  # type: ignore[no-any-return]


def _without_first(paths: list[str], path: str) -> list[str]:
    if path not in paths:
        return list(paths)
    index = paths.index(path)
    return [*paths[:index], *paths[index + 1 :]]


@dataclass
class InProcessLambdas:
    """The functions the engine runs in process, looked up by name or ARN as moto's backend sees them."""

    invocations: list[Invocation] = field(default_factory=list)
    _functions: dict[str, InProcessFunction] = field(default_factory=dict)
    _in_flight: int = 0
    _idle: threading.Condition = field(default_factory=threading.Condition)
    _injected: dict[str, list[InjectedFailure]] = field(default_factory=dict)
    _injected_lock: threading.Lock = field(default_factory=threading.Lock)

    def inject_failure(self, function_logical_id: str, failure: InjectedFailure) -> None:
        """Make the function's next invocation fail as the Lambda service would report it."""
        with self._injected_lock:
            self._injected.setdefault(function_logical_id, []).append(failure)

    def _take_injected(self, function_logical_id: str) -> InjectedFailure | None:
        with self._injected_lock:
            pending = self._injected.get(function_logical_id)
            return pending.pop(0) if pending else None

    def add(self, function: InProcessFunction) -> None:
        self._functions[function.spec.name] = function
        self._functions[function.spec.arn] = function

    def find(self, name_or_arn: str) -> InProcessFunction | None:
        return self._functions.get(name_or_arn)

    def unload_all(self) -> None:
        for function in set(self._functions.values()):
            function.unload()

    def wait_idle(self, timeout: float) -> bool:
        """Wait for handlers still running (e.g. after their Task timed out); False if some still are."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    def invoke(self, function: InProcessFunction, payload: bytes) -> tuple[bytes, bool]:
        """Run the handler; return (response payload, whether it is a function error)."""
        with self._idle:
            self._in_flight += 1
        try:
            return self._invoke(function, payload)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _invoke(self, function: InProcessFunction, payload: bytes) -> tuple[bytes, bool]:
        request_id = str(uuid.uuid4())
        event = json.loads(payload) if payload else {}
        spec = function.spec
        context = LambdaContext(
            function_name=spec.name,
            function_version="$LATEST",
            invoked_function_arn=spec.arn,
            memory_limit_in_mb=spec.memory_mb,
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{spec.name}",
            log_stream_name=f"local/[$LATEST]{request_id.replace('-', '')}",
            deadline_monotonic=time.monotonic() + spec.timeout_seconds,
        )
        error_type: str | None = None
        with function_environment(function.environment()):
            injected = self._take_injected(spec.logical_id)
            try:
                if injected is not None and not injected.after_handler:
                    raise _LambdaFailure(injected.error_type, injected.message)
                result = function.handler()(event, context)
                response = _marshal(result)
                if injected is not None:
                    # The handler's work is done (its side effects stay) but its answer is lost.
                    raise _LambdaFailure(injected.error_type, injected.message)
            except _LambdaFailure as failure:
                error_type = failure.error_type
                response = _error_payload(error_type, str(failure), request_id, None)
            except Exception as exc:
                error_type = type(exc).__name__
                response = _error_payload(error_type, str(exc), request_id, exc)
        self.invocations.append(Invocation(spec.logical_id, request_id, event, error_type))
        return response, error_type is not None


def _marshal(result: Any) -> bytes:
    try:
        return json.dumps(result, default=_decimal_default).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise _LambdaFailure("Runtime.MarshalError", f"Unable to marshal response: {exc}") from exc


def _decimal_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _error_payload(error_type: str, message: str, request_id: str, exc: BaseException | None) -> bytes:
    body: dict[str, Any] = {"errorMessage": message, "errorType": error_type, "requestId": request_id}
    if exc is not None and exc.__traceback__ is not None:
        # The handler's frames only, as the Lambda runtime reports them (not the engine's own).
        frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename != __file__]
        body["stackTrace"] = traceback.format_list(frames)
    return json.dumps(body).encode("utf-8")


class PinnedEnvironment:
    """The few process-wide variables the engine sets for its life: the region, which boto3 clients in
    any thread resolve at any moment, and (restored exactly at the end) what moto's mock sets."""

    def __init__(self, pinned: Mapping[str, str], also_restored: Iterable[str] = ()) -> None:
        self._pinned = dict(pinned)
        self._restored = frozenset(also_restored) | self._pinned.keys()

    @contextmanager
    def installed(self) -> Iterator[None]:
        original = {key: os.environ.get(key) for key in self._restored}
        os.environ.update(self._pinned)
        try:
            yield
        finally:
            for key, value in original.items():
                if value is None:
                    os.environ.pop(key, None)
                elif os.environ.get(key) != value:
                    os.environ[key] = value


@contextmanager
def in_process_lambda_backend(lambdas: InProcessLambdas) -> Iterator[None]:
    """Patch moto's Lambda backends (Docker and simple) so template functions run in process."""
    originals: dict[type[Any], Any] = {
        LambdaBackend: LambdaBackend.__dict__["invoke"],
        LambdaSimpleBackend: LambdaSimpleBackend.__dict__["invoke"],
    }

    def make_invoke(original: Any) -> Any:
        def invoke(
            backend: Any,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: Any,
        ) -> bytes | str | None:
            moto_function = backend.get_function(function_name, qualifier)
            function = lambdas.find(moto_function.function_arn) or lambdas.find(moto_function.function_name)
            if function is None:
                return original(backend, function_name, qualifier, body, headers, response_headers)  # type: ignore[no-any-return]
            payload = body.encode("utf-8") if isinstance(body, str) else (body or b"")
            invocation_type = (headers or {}).get("X-Amz-Invocation-Type", "RequestResponse")
            if invocation_type == "DryRun":
                return b""
            if invocation_type == "Event":
                threading.Thread(target=lambdas.invoke, args=(function, payload), daemon=True).start()
                return b""
            response, failed = lambdas.invoke(function, payload)
            if failed:
                response_headers["x-amz-function-error"] = "Unhandled"
            response_headers["Content-Length"] = str(len(response))
            return response

        return invoke

    for backend_class, original in originals.items():
        backend_class.invoke = make_invoke(original)
    try:
        yield
    finally:
        for backend_class, original in originals.items():
            backend_class.invoke = original
