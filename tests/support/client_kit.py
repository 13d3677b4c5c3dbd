"""The stack the client kit is tested against: the simulator, the embedded engine and ``serve``'s
server three ways — open (loopback, no auth), with an API key (``serve --api-key``), and behind an
IAM gateway that checks SigV4 as API Gateway does — all on one engine that signs webhooks with a
known secret."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from novita_local.engine import LocalEngine
from novita_local.serve import ApiServer
from novita_local.simulator import Simulator
from tests.support.iam_gateway import REGION, IamGateway, TestCredentials
from tests.support.simulator import session_simulator
from tests.support.workflow import clear_table, workflow_engine

#: Not key-shaped on purpose (tools/check_no_keys.py): obviously fake test credentials.
ACCESS_KEY = "test-client-kit-access-key"
SECRET_KEY = "test-client-kit-secret-key"
SESSION_TOKEN = "test-client-kit-session-token"
API_KEY = "test-client-kit-api-key"
#: Simulated seconds per real second: a start takes about a real second, and the workflow's own
#: time budgets (a health probe's 5 s, a rate-limit wait) keep a margin on a loaded machine.
TIME_SCALE = 30.0


def real_seconds(simulated: float) -> float:
    return simulated / TIME_SCALE


@dataclass
class ClientKitStack:
    simulator: Simulator
    engine: LocalEngine
    #: ``serve`` without auth (a loopback run).
    url: str
    #: ``serve --api-key API_KEY``.
    api_key_url: str
    #: The IAM gateway (SigV4 checked with botocore) in front of the open server.
    iam_url: str
    gateway: IamGateway
    #: The ``whsec_…`` secret every webhook is signed with.
    webhook_secret: str

    def fresh(self) -> None:
        """The default seed again at the tests' time scale; no breaker or limiter state; no recorded calls."""
        self.simulator.admin.reset()
        self.simulator.admin.set_config(time_scale=TIME_SCALE)
        clear_table(self.engine, "ResilienceTable")
        self.gateway.clear()

    def node_environment(self) -> dict[str, str]:
        """What the Node.js tests read (and nothing of this machine's AWS or proxy settings)."""
        keep = ("PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT")
        return {name: os.environ[name] for name in keep if name in os.environ} | {
            "ORCHESTRATOR_URL": self.url,
            "TEST_API_KEY_URL": self.api_key_url,
            "TEST_ORCHESTRATOR_API_KEY": API_KEY,
            "TEST_IAM_URL": self.iam_url,
            "TEST_AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "TEST_AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "TEST_AWS_SESSION_TOKEN": SESSION_TOKEN,
            "TEST_AWS_REGION": REGION,
            "WEBHOOK_SECRET": self.webhook_secret,
        }


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@contextlib.contextmanager
def client_kit_stack() -> Iterator[ClientKitStack]:
    simulator = session_simulator()
    simulator.admin.reset()
    webhook_secret = new_webhook_secret()
    credentials = {ACCESS_KEY: TestCredentials(SECRET_KEY, SESSION_TOKEN)}
    with (
        workflow_engine(simulator, TIME_SCALE, WEBHOOK_SIGNING_SECRET=webhook_secret) as engine,
        ApiServer(engine, port=0) as server,
        ApiServer(engine, port=0, api_key=API_KEY, deliver_webhooks=False) as keyed,
        IamGateway(upstream=server.url, credentials=credentials) as gateway,
    ):
        stack = ClientKitStack(simulator, engine, server.url, keyed.url, gateway.url, gateway, webhook_secret)
        stack.fresh()
        yield stack
