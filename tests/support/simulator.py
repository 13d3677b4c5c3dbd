"""One in-process Novita simulator per test session, reset before every test that asks for it."""

from __future__ import annotations

import atexit

import requests

from novita_local.simulator import Simulator

__all__ = ["TEST_API_KEY", "Simulator", "api_session", "session_simulator"]

# Not key-shaped on purpose: the simulator accepts only this key from the tests.
TEST_API_KEY = "test-key-for-the-simulator"

_session_simulator: Simulator | None = None


def session_simulator() -> Simulator:
    """The session's simulator, started on first use on a free loopback port."""
    global _session_simulator
    if _session_simulator is None:
        _session_simulator = Simulator(api_key=TEST_API_KEY).start()
        atexit.register(_session_simulator.stop)
    return _session_simulator


def api_session(simulator: Simulator, api_key: str | None = TEST_API_KEY) -> requests.Session:
    """A ``requests`` session for the simulated Novita API, with the test key unless told otherwise."""
    session = requests.Session()
    session.trust_env = False  # loopback only: never through an HTTP proxy
    if api_key is not None:
        session.headers["Authorization"] = f"Bearer {api_key}"
    return session
