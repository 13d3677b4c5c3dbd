"""The Novita client against the running simulator: operations, pagination and every error kind."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest
import requests

from novita_orchestrator.clock import SystemClock
from novita_orchestrator.invocation import ANSWER_MARGIN_SECONDS, invocation_deadline
from novita_orchestrator.novita.client import NovitaClient
from novita_orchestrator.novita.errors import (
    Conflict,
    Forbidden,
    InsufficientResource,
    NetworkError,
    NotFound,
    NovitaError,
    NovitaTimeout,
    RateLimited,
    Unauthorized,
    UpstreamError,
    ValidationFailed,
)
from novita_orchestrator.novita.models import CreateInstanceRequest
from novita_orchestrator.settings import NovitaSettings
from tests.support.simulator import Simulator

pytestmark = pytest.mark.integration

LIST = "/gpu/instances"
GET = "/gpu/instance"


class RecordingClock(SystemClock):
    """The real clock, remembering how long the client chose to sleep."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        super().sleep(seconds)


class RecordingGuard:
    """A guard that lets everything through and remembers what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, NovitaError | None]] = []

    def before_request(self, operation: str, deadline: float) -> None:
        self.events.append(("before", operation, None))

    def on_success(self, operation: str) -> None:
        self.events.append(("success", operation, None))

    def on_failure(self, operation: str, error: NovitaError) -> None:
        self.events.append(("failure", operation, error))


class BreakerOpen(NovitaError):
    code = "CIRCUIT_OPEN"
    retryable = False


class RefusingGuard(RecordingGuard):
    def before_request(self, operation: str, deadline: float) -> None:
        super().before_request(operation, deadline)
        raise BreakerOpen("circuit open", operation=operation)


@pytest.fixture
def sim(simulator: Simulator) -> Simulator:
    """The simulator, already reset to its default seed by the shared fixture."""
    return simulator


def make_settings(sim: Simulator, **overrides: Any) -> NovitaSettings:
    values: dict[str, Any] = {
        "NOVITA_API_KEY": sim.api_key,
        "NOVITA_BASE_URL": sim.base_url,
        "NOVITA_RETRY_BASE_SECONDS": 0.01,
        "NOVITA_RETRY_MAX_SECONDS": 0.05,
        "NOVITA_MAX_ATTEMPTS": 4,
    }
    values.update(overrides)
    return NovitaSettings(**values)


def make_client(sim: Simulator, *, guard: Any = None, clock: Any = None, **overrides: Any) -> NovitaClient:
    session = requests.Session()
    session.trust_env = False  # loopback only
    kwargs: dict[str, Any] = {"session": session}
    if guard is not None:
        kwargs["guard"] = guard
    if clock is not None:
        kwargs["clock"] = clock
    return NovitaClient(make_settings(sim, **overrides), **kwargs)


def calls(sim: Simulator, path: str, method: str) -> list[dict[str, Any]]:
    return sim.admin.journal(path=path, method=method)


def status_of(sim: Simulator, instance_id: str) -> str:
    return str(next(i["status"] for i in sim.admin.state()["instances"] if i["id"] == instance_id))


# --- operations ------------------------------------------------------------------------------------


def test_lists_every_page_of_a_name_filter(sim: Simulator) -> None:
    sim.admin.add_instances([{"id": f"batch-{n:03}", "name": f"batch-{n:03}"} for n in range(120)])
    client = make_client(sim, NOVITA_PAGE_SIZE=50)

    found = client.list_instances(name="batch-")

    assert sorted(i.id for i in found) == [f"batch-{n:03}" for n in range(120)]
    pages = calls(sim, LIST, "GET")
    # The first listing learns that pages count from 1 here (page 1 repeats page 0) ...
    assert [p["query"]["pageNum"] for p in pages] == ["0", "1", "2", "3"]
    assert {p["query"]["pageSize"] for p in pages} == {"50"}
    assert {p["query"]["name"] for p in pages} == {"batch-"}
    sim.admin.clear_journal()
    assert len(client.list_instances(name="batch-")) == 120
    # ... and the next one starts at page 1.
    assert [p["query"]["pageNum"] for p in calls(sim, LIST, "GET")] == ["1", "2", "3"]


def test_lists_instances_by_status(sim: Simulator) -> None:
    running = make_client(sim).list_instances(status="running")

    assert [i.name for i in running] == ["inference"]


def test_finds_only_the_exact_name_among_fuzzy_matches(sim: Simulator) -> None:
    sim.admin.add_instances(
        [{"id": "dev-box-2", "name": "dev-box-2"}, {"id": "dev-box-upper", "name": "Dev-Box"}]
    )
    client = make_client(sim)

    assert [i.id for i in client.find_instances_by_name("dev-box")] == ["inst-dev-box"]
    assert sorted(i.id for i in client.find_instances_by_name("twin")) == ["inst-twin-a", "inst-twin-b"]
    assert client.find_instances_by_name("nobody") == []


def test_gets_an_instance_with_its_endpoints(sim: Simulator) -> None:
    instance = make_client(sim).get_instance("inst-inference")

    assert instance.name == "inference"
    assert instance.status == "running"
    assert instance.gpu_num == 1
    assert [(p.port, p.type) for p in instance.port_mappings] == [(8000, "http")]
    assert instance.port_mappings[0].endpoint is not None


def test_start_then_stop(sim: Simulator) -> None:
    client = make_client(sim)

    client.start_instance("inst-dev-box")
    assert status_of(sim, "inst-dev-box") in {"toStart", "starting"}

    client.stop_instance("inst-inference")
    assert status_of(sim, "inst-inference") in {"toStop", "stopping"}


def test_start_of_a_running_instance_counts_as_started(sim: Simulator) -> None:
    make_client(sim).start_instance("inst-inference")

    assert len(calls(sim, "/gpu/instance/start", "POST")) == 1
    assert status_of(sim, "inst-inference") == "running"


def test_stop_of_an_exited_instance_counts_as_stopped(sim: Simulator) -> None:
    make_client(sim).stop_instance("inst-dev-box")

    assert len(calls(sim, "/gpu/instance/stop", "POST")) == 1


def test_creates_an_instance(sim: Simulator) -> None:
    client = make_client(sim)

    instance_id = client.create_instance(
        CreateInstanceRequest(
            name="fresh",
            product_id="prod-rtx4090-24g",
            image_url="registry.example.com/team/app:1.0",
            image_auth_id="auth-team-registry",
            ports="8000/http",
            envs={"APP_MODE": "serve"},
        )
    )

    created = client.get_instance(instance_id)
    assert created.name == "fresh"
    assert created.image_auth_id == "auth-team-registry"
    assert [p["body"]["name"] for p in calls(sim, "/gpu/instance/create", "POST")] == ["fresh"]


def test_templates_registry_auths_and_products(sim: Simulator) -> None:
    client = make_client(sim)

    private = client.list_templates(channel="private")
    official = client.list_templates(channel="official")
    template = client.get_template("tpl-private-app")
    auth = client.get_registry_auth("auth-team-registry")
    products = {p.id: p for p in client.list_products()}

    assert [t.id for t in private] == ["tpl-private-app"]
    assert [t.id for t in official] == ["tpl-public-nginx"]
    assert template.image_auth == "auth-team-registry"
    assert template.ports_spec() == "8000/http"
    assert (auth.name, auth.username) == ("team-registry", "deploy")
    assert products["prod-h100-80g"].available_deploy is False
    assert products["prod-rtx4090-24g"].available_deploy is True
    with pytest.raises(NotFound):
        client.get_registry_auth("auth-missing")
    with pytest.raises(NotFound) as missing_template:
        client.get_template("tpl-missing")
    assert missing_template.value.reason == "TEMPLATE_NOT_FOUND"


# --- error kinds -----------------------------------------------------------------------------------


def test_not_found_is_raised_without_retrying(sim: Simulator) -> None:
    with pytest.raises(NotFound) as raised:
        make_client(sim).get_instance("inst-missing")

    assert raised.value.status == 400
    assert raised.value.reason == "RESOURCE_NOT_FOUND"
    assert len(calls(sim, GET, "GET")) == 1


def test_start_refused_because_of_the_instance_state_is_a_conflict(sim: Simulator) -> None:
    client = make_client(sim)
    client.stop_instance("inst-inference")

    with pytest.raises(Conflict) as raised:
        client.start_instance("inst-inference")  # still stopping

    assert raised.value.reason == "CONFLICT"
    assert len(calls(sim, "/gpu/instance/start", "POST")) == 1


def test_a_conflict_on_start_of_an_exited_instance_is_raised(sim: Simulator) -> None:
    sim.admin.add_fault(
        kind="error", method="POST", path="/gpu/instance/start", status=400, reason="CONFLICT"
    )

    with pytest.raises(Conflict):
        make_client(sim).start_instance("inst-dev-box")

    assert len(calls(sim, "/gpu/instance/start", "POST")) == 1
    assert status_of(sim, "inst-dev-box") == "exited"


def test_insufficient_resource(sim: Simulator) -> None:
    request = CreateInstanceRequest(name="big", product_id="prod-h100-80g", image_url="nginx:1.27")

    with pytest.raises(InsufficientResource) as raised:
        make_client(sim).create_instance(request)

    assert raised.value.reason == "INSUFFICIENT_RESOURCE"
    assert len(calls(sim, "/gpu/instance/create", "POST")) == 1


def test_validation_failure_names_the_field(sim: Simulator) -> None:
    request = CreateInstanceRequest(name="odd", product_id="prod-does-not-exist", image_url="nginx:1.27")

    with pytest.raises(ValidationFailed) as raised:
        make_client(sim).create_instance(request)

    assert raised.value.reason == "VALIDATOR_PARAM"
    assert "productId" in str(raised.value)
    assert len(calls(sim, "/gpu/instance/create", "POST")) == 1


def test_a_wrong_key_is_unauthorized_and_not_repeated(sim: Simulator) -> None:
    client = make_client(sim, NOVITA_API_KEY="sk_wrong_key_0123456789")

    with pytest.raises(Unauthorized) as raised:
        client.list_instances()

    assert raised.value.status == 401
    assert "sk_wrong_key_0123456789" not in str(raised.value)
    assert [c["authorized"] for c in calls(sim, LIST, "GET")] == [False]


def test_forbidden(sim: Simulator) -> None:
    sim.admin.add_fault(kind="error", method="GET", path=LIST, status=403, reason="FORBIDDEN")

    with pytest.raises(Forbidden):
        make_client(sim).list_instances()

    assert len(calls(sim, LIST, "GET")) == 1


def test_rate_limited_waits_for_retry_after_seconds(sim: Simulator) -> None:
    sim.admin.add_fault(kind="rate_limit", method="GET", path=LIST, retryAfter="1")
    clock = RecordingClock()
    guard = RecordingGuard()

    found = make_client(sim, clock=clock, guard=guard).list_instances()

    assert len(found) == 5
    assert clock.sleeps and clock.sleeps[0] >= 1.0
    failures = [error for kind, _, error in guard.events if kind == "failure"]
    assert isinstance(failures[0], RateLimited) and failures[0].retry_after == 1.0
    assert [c["status"] for c in calls(sim, LIST, "GET")] == [429, 200]


def test_rate_limited_with_an_http_date_past_the_budget_fails_at_once(sim: Simulator) -> None:
    later = format_datetime(datetime.fromtimestamp(datetime.now(UTC).timestamp() + 120, tz=UTC), usegmt=True)
    sim.admin.add_fault(kind="rate_limit", method="GET", path=LIST, retryAfter=later, count=None)
    clock = RecordingClock()

    with pytest.raises(RateLimited) as raised:
        make_client(sim, clock=clock, NOVITA_RETRY_BUDGET_SECONDS=30).list_instances()

    assert raised.value.retry_after is not None and 100 < raised.value.retry_after <= 120
    assert clock.sleeps == []
    assert len(calls(sim, LIST, "GET")) == 1


def test_rate_limited_with_an_http_date_is_waited_for(sim: Simulator) -> None:
    soon = format_datetime(datetime.fromtimestamp(datetime.now(UTC).timestamp() + 3, tz=UTC), usegmt=True)
    sim.admin.add_fault(kind="rate_limit", method="GET", path=GET, retryAfter=soon)
    clock = RecordingClock()

    make_client(sim, clock=clock).get_instance("inst-dev-box")

    # The date has one-second resolution: the wait is up to three seconds, and longer than any backoff.
    assert clock.sleeps and 0.05 < clock.sleeps[0] <= 3.0
    assert [c["status"] for c in calls(sim, GET, "GET")] == [429, 200]


def test_the_simulator_rate_limit_is_honoured(sim: Simulator) -> None:
    sim.admin.set_rate_limit(per_second=2, burst=1)
    client = make_client(sim, NOVITA_RETRY_BUDGET_SECONDS=30)

    for _ in range(3):
        client.get_instance("inst-dev-box")

    statuses = [c["status"] for c in calls(sim, GET, "GET")]
    assert statuses.count(200) == 3


def test_upstream_errors_are_retried_then_raised(sim: Simulator) -> None:
    sim.admin.add_fault(kind="error", method="GET", path=GET, status=503, reason="UNKNOWN", count=None)
    guard = RecordingGuard()

    with pytest.raises(UpstreamError) as raised:
        make_client(sim, guard=guard, NOVITA_MAX_ATTEMPTS=3).get_instance("inst-dev-box")

    assert raised.value.status == 503
    assert len(calls(sim, GET, "GET")) == 3
    assert [kind for kind, _, _ in guard.events] == ["before", "failure"] * 3


def test_a_read_recovers_after_upstream_errors(sim: Simulator) -> None:
    sim.admin.add_fault(kind="error", method="GET", path=LIST, status=502, count=2)

    assert len(make_client(sim).list_instances()) == 5
    assert [c["status"] for c in calls(sim, LIST, "GET")] == [502, 502, 200]


def test_slow_responses_time_out(sim: Simulator) -> None:
    sim.admin.add_fault(kind="delay", method="GET", path=GET, seconds=2.0, count=None)
    client = make_client(sim, NOVITA_READ_TIMEOUT_SECONDS=0.2, NOVITA_MAX_ATTEMPTS=2)

    with pytest.raises(NovitaTimeout) as raised:
        client.get_instance("inst-dev-box")

    assert raised.value.retryable
    sim.admin.clear_faults()
    assert client.get_instance("inst-dev-box").name == "dev-box"


def test_one_slow_response_is_retried(sim: Simulator) -> None:
    sim.admin.add_fault(kind="delay", method="GET", path=GET, seconds=2.0, count=1)

    instance = make_client(sim, NOVITA_READ_TIMEOUT_SECONDS=0.2).get_instance("inst-dev-box")

    assert instance.name == "dev-box"


def test_dropped_connections_are_network_errors(sim: Simulator) -> None:
    sim.admin.add_fault(kind="drop", method="GET", path=LIST, when="before", count=None)

    with pytest.raises(NetworkError):
        make_client(sim, NOVITA_MAX_ATTEMPTS=2).list_instances()

    assert len(calls(sim, LIST, "GET")) == 2


def test_a_read_survives_one_dropped_connection(sim: Simulator) -> None:
    sim.admin.add_fault(kind="drop", method="GET", path=LIST, when="before")

    assert len(make_client(sim).list_instances()) == 5


def test_an_error_from_the_guard_is_not_retried_and_sends_nothing(sim: Simulator) -> None:
    guard = RefusingGuard()

    with pytest.raises(BreakerOpen):
        make_client(sim, guard=guard).start_instance("inst-dev-box")

    assert guard.events == [("before", "start_instance", None)]
    assert sim.admin.journal() == []


# --- retries of actions ----------------------------------------------------------------------------


def test_start_against_a_failing_novita_sends_max_attempts_posts(sim: Simulator) -> None:
    sim.admin.add_fault(kind="error", method="POST", path="/gpu/instance/start", status=503, count=None)
    client = make_client(sim, NOVITA_MAX_ATTEMPTS=4)

    with pytest.raises(UpstreamError):
        client.start_instance("inst-dev-box")

    assert client.max_attempts == 4
    assert len(calls(sim, "/gpu/instance/start", "POST")) == 4
    # Each POST after a failure is preceded by a look at the instance.
    assert len(calls(sim, GET, "GET")) == 4
    assert status_of(sim, "inst-dev-box") == "exited"


def test_start_recovers_after_two_upstream_errors(sim: Simulator) -> None:
    sim.admin.add_fault(kind="error", method="POST", path="/gpu/instance/start", status=503, count=2)

    make_client(sim).start_instance("inst-dev-box")

    assert [c["status"] for c in calls(sim, "/gpu/instance/start", "POST")] == [503, 503, 200]
    assert status_of(sim, "inst-dev-box") in {"toStart", "starting"}


def test_start_whose_answer_is_lost_is_not_repeated(sim: Simulator) -> None:
    sim.admin.add_fault(kind="drop", method="POST", path="/gpu/instance/start", when="after")

    make_client(sim).start_instance("inst-dev-box")

    assert len(calls(sim, "/gpu/instance/start", "POST")) == 1
    assert status_of(sim, "inst-dev-box") in {"toStart", "starting"}


def test_stop_whose_answer_is_lost_is_not_repeated(sim: Simulator) -> None:
    sim.admin.add_fault(kind="drop", method="POST", path="/gpu/instance/stop", when="after")

    make_client(sim).stop_instance("inst-inference")

    assert len(calls(sim, "/gpu/instance/stop", "POST")) == 1
    assert status_of(sim, "inst-inference") in {"toStop", "stopping"}


def test_start_that_timed_out_is_sent_again_only_after_a_look(sim: Simulator) -> None:
    # The first POST is held by Novita past the read timeout and has not started the instance yet.
    sim.admin.add_fault(kind="delay", method="POST", path="/gpu/instance/start", seconds=2.0)
    guard = RecordingGuard()

    make_client(sim, guard=guard, NOVITA_READ_TIMEOUT_SECONDS=0.3).start_instance("inst-dev-box")

    assert status_of(sim, "inst-dev-box") in {"toStart", "starting"}
    sent = [(kind, op) for kind, op, _ in guard.events if kind == "before"]
    assert sent == [("before", "start_instance"), ("before", "get_instance"), ("before", "start_instance")]


def wait_for(probe: Callable[[], list[Any]], limit_seconds: float = 20.0) -> list[Any]:
    """Poll until ``probe`` returns something (for requests the simulator is still holding)."""
    give_up = time.monotonic() + limit_seconds
    while not (found := probe()) and time.monotonic() < give_up:
        time.sleep(0.1)
    return found


def create_request(name: str | None) -> CreateInstanceRequest:
    return CreateInstanceRequest(
        name=name, product_id="prod-rtx4090-24g", image_url="nginx:1.27", ports="80/http"
    )


def instances_named(sim: Simulator, name: str) -> list[str]:
    return [i["id"] for i in sim.admin.state()["instances"] if i["name"] == name]


def test_create_whose_answer_is_lost_creates_exactly_one_instance(sim: Simulator) -> None:
    sim.admin.add_fault(kind="drop", method="POST", path="/gpu/instance/create", when="after")

    instance_id = make_client(sim).create_instance(create_request("lost-answer"))

    assert instances_named(sim, "lost-answer") == [instance_id]
    assert len(calls(sim, "/gpu/instance/create", "POST")) == 1


def test_create_that_failed_before_processing_is_sent_again(sim: Simulator) -> None:
    sim.admin.add_fault(kind="error", method="POST", path="/gpu/instance/create", status=503)

    instance_id = make_client(sim).create_instance(create_request("second-try"))

    assert instances_named(sim, "second-try") == [instance_id]
    assert [c["status"] for c in calls(sim, "/gpu/instance/create", "POST")] == [503, 200]


def test_create_that_timed_out_waits_for_the_instance_instead_of_sending_again(sim: Simulator) -> None:
    # Novita holds the request past the read timeout and creates the instance only afterwards.
    sim.admin.add_fault(kind="delay", method="POST", path="/gpu/instance/create", seconds=2.0)
    guard = RecordingGuard()
    client = make_client(sim, guard=guard, NOVITA_READ_TIMEOUT_SECONDS=0.3)

    instance_id = client.create_instance(create_request("late"))

    assert [op for kind, op, _ in guard.events if kind == "before"].count("create_instance") == 1
    assert instances_named(sim, "late") == [instance_id]


def test_create_that_timed_out_and_did_not_appear_within_the_budget_is_not_sent_again(
    sim: Simulator,
) -> None:
    sim.admin.add_fault(kind="delay", method="POST", path="/gpu/instance/create", seconds=3.0)
    guard = RecordingGuard()
    client = make_client(sim, guard=guard, NOVITA_READ_TIMEOUT_SECONDS=0.3, NOVITA_RETRY_BUDGET_SECONDS=1.5)

    with pytest.raises(NovitaTimeout, match="may still be created"):
        client.create_instance(create_request("later"))

    assert [op for kind, op, _ in guard.events if kind == "before"].count("create_instance") == 1
    assert len(wait_for(lambda: instances_named(sim, "later"))) == 1


def test_create_that_timed_out_whose_lookup_fails_too_says_it_may_still_be_created(sim: Simulator) -> None:
    # Under load (or a slow Novita) the lookups after a timed-out create can fail as well: the caller
    # must still be told the create may happen, and nothing is sent again.
    sim.admin.add_fault(kind="delay", method="POST", path="/gpu/instance/create", seconds=3.0)
    sim.admin.add_fault(kind="error", method="GET", path="/gpu/instances", status=503, count=None)
    client = make_client(sim, NOVITA_READ_TIMEOUT_SECONDS=0.3, NOVITA_RETRY_BUDGET_SECONDS=1.5)

    with pytest.raises(NovitaTimeout, match="may still be created") as timed_out:
        client.create_instance(create_request("slow"), known_ids=set())

    assert "looking up 'slow' failed too" in str(timed_out.value)
    # The one POST is journalled once its delayed answer is done; no second one was sent.
    assert len(wait_for(lambda: calls(sim, "/gpu/instance/create", "POST"))) == 1


def test_create_ignores_older_instances_with_the_same_name(sim: Simulator) -> None:
    sim.admin.add_fault(kind="drop", method="POST", path="/gpu/instance/create", when="after")

    instance_id = make_client(sim).create_instance(create_request("dev-box"))

    assert instance_id != "inst-dev-box"
    assert sorted(instances_named(sim, "dev-box")) == sorted(["inst-dev-box", instance_id])


def test_create_without_a_name_is_never_repeated(sim: Simulator) -> None:
    sim.admin.add_fault(kind="error", method="POST", path="/gpu/instance/create", status=503, count=None)

    with pytest.raises(UpstreamError):
        make_client(sim).create_instance(create_request(None))

    assert len(calls(sim, "/gpu/instance/create", "POST")) == 1


def test_create_keeps_failing_within_max_attempts(sim: Simulator) -> None:
    sim.admin.add_fault(kind="error", method="POST", path="/gpu/instance/create", status=500, count=None)

    with pytest.raises(UpstreamError):
        make_client(sim, NOVITA_MAX_ATTEMPTS=3).create_instance(create_request("never"))

    assert len(calls(sim, "/gpu/instance/create", "POST")) == 3
    assert instances_named(sim, "never") == []


def test_create_rate_limited_is_sent_again(sim: Simulator) -> None:
    sim.admin.add_fault(kind="rate_limit", method="POST", path="/gpu/instance/create", retryAfter="0")

    instance_id = make_client(sim).create_instance(create_request("patient"))

    assert instances_named(sim, "patient") == [instance_id]
    assert [c["status"] for c in calls(sim, "/gpu/instance/create", "POST")] == [429, 200]


# --- the invocation's time -------------------------------------------------------------------------


def test_a_slow_novita_call_ends_with_the_invocation_attempt_in_flight_included(sim: Simulator) -> None:
    # Every answer takes 20 s; a read timeout of 15 s and a 30 s budget would run one call to ~35 s,
    # past a 29 s function. With 6 s of the invocation left, the attempt in flight is cut to that.
    sim.admin.add_fault(kind="delay", method="GET", path=GET, seconds=20, count=None)
    client = make_client(sim, NOVITA_READ_TIMEOUT_SECONDS=15, NOVITA_RETRY_BUDGET_SECONDS=30)
    started = time.monotonic()

    with invocation_deadline(6), pytest.raises(NovitaTimeout):
        client.get_instance("inst-dev-box")

    assert time.monotonic() - started < 6 - ANSWER_MARGIN_SECONDS + 1


def test_outside_an_invocation_the_budget_alone_bounds_a_call(sim: Simulator) -> None:
    sim.admin.add_fault(kind="delay", method="GET", path=GET, seconds=20, count=None)
    client = make_client(sim, NOVITA_READ_TIMEOUT_SECONDS=15, NOVITA_RETRY_BUDGET_SECONDS=1.5)
    started = time.monotonic()

    with pytest.raises(NovitaTimeout):
        client.get_instance("inst-dev-box")

    # The budget cuts the read timeout too (15 s before): the call ends by it.
    assert time.monotonic() - started < 1.5 + 1
