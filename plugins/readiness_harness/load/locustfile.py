"""The Locust side of `readiness load`: the user class and the run's beginning and end.

Runs only inside Locust's processes (`locust -f` this file), never in pytest or the CLI,
because importing Locust monkey-patches the standard library with gevent.

- Every load-generating process (the only one without workers, else each worker) signs its
  whole share of deliveries when the test starts, before its users spawn (`presign`).
- `SignedWebhookUser` takes the next pre-signed delivery and POSTs its bytes; a 2xx answer
  is a success, anything else a failure; every status goes into the process's ledger.
- The master (or the only process) ends the run itself after the planned time, or once
  every process has sent its whole share: no new deliveries, every one in flight answered,
  every worker's ledger gathered and written, Locust's statistics complete; then it quits.
  Locust's own `--run-time` would quit before the workers' ledgers and last statistics
  arrive.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import gevent
import gevent.ssl
from locust import FastHttpUser, constant, constant_throughput, events, task
from locust.env import Environment
from locust.runners import WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner
from locust.stats import CSV_STATS_INTERVAL_SEC

from readiness_harness.load.ledger import Ledger
from readiness_harness.load.plan import LoadPlan
from readiness_harness.load.presign import Pool, presign
from readiness_harness.settings.secrets import load_secrets

logger = logging.getLogger("readiness.load")

LEDGER_MESSAGE = "readiness_ledger"
EXHAUSTED_MESSAGE = "readiness_exhausted"
FINISH_MESSAGE = "readiness_finish"
LEDGER_WAIT_SECONDS = 60.0
SIGN_BATCH = 500
"""Pre-signing yields to gevent this often, so heartbeats reach the master meanwhile."""


class _Process:
    """This process's part of the run: its plan, pre-signed pool and ledger."""

    def __init__(self) -> None:
        self.plan: LoadPlan | None = None
        self.pool = Pool([])
        self.ledger = Ledger(processes=1)
        self.presign_seconds = 0.0
        self.exhausted = False
        self.draining = False
        self.in_flight = 0
        # the master (or the only process): the ledgers received, whether the run is ending
        self.merged = Ledger()
        self.senders: set[str] = set()
        self.exhausted_senders: set[str] = set()
        self.finishing = False


STATE = _Process()


def _arguments(parser: Any) -> None:
    parser.add_argument("--readiness-plan", default=None, help="the load plan (JSON) readiness load wrote")
    parser.add_argument("--readiness-ledger", default=None, help="where the master writes the merged ledger")


def _plan(environment: Environment) -> LoadPlan:
    # The master reads the plan file; its parsed options (custom ones included) reach
    # every worker with the spawn message, so workers on other machines need no file.
    text = getattr(environment.parsed_options, "readiness_plan_json", None)
    if not text:
        raise RuntimeError("no load plan: run this locustfile through `readiness load`")
    return LoadPlan.from_json(json.loads(text))


def _init(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is not None and getattr(options, "readiness_plan", None):
        options.readiness_plan_json = Path(options.readiness_plan).read_text(encoding="utf-8")
    if isinstance(environment.runner, MasterRunner):
        environment.runner.register_message(LEDGER_MESSAGE, _on_ledger)
        environment.runner.register_message(EXHAUSTED_MESSAGE, _on_exhausted)
    elif isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message(FINISH_MESSAGE, _on_finish, concurrent=True)


def _test_start(environment: Environment, **_: Any) -> None:
    plan = _plan(environment)
    STATE.plan = plan
    if not isinstance(environment.runner, WorkerRunner):
        gevent.spawn_later(
            plan.run_seconds, _finish, environment, f"the planned {plan.run_seconds:g}s passed"
        )
    if isinstance(environment.runner, MasterRunner):
        return
    began = time.perf_counter()
    STATE.pool = presign(plan, load_secrets(), yield_every=SIGN_BATCH, pause=gevent.sleep)
    STATE.presign_seconds = time.perf_counter() - began
    SignedWebhookUser.configure(plan)
    logger.info("pre-signed %d deliveries in %.2fs", STATE.pool.size, STATE.presign_seconds)


def _on_ledger(environment: Environment, msg: Any) -> None:
    STATE.merged.merge(Ledger.from_json(msg.data["ledger"]))
    STATE.senders.add(msg.node_id)
    logger.info(
        "ledger of worker %s: %d payments (pre-signed in %.2fs)",
        msg.node_id,
        len(msg.data["ledger"]["payments"]),
        msg.data["presign_seconds"],
    )


def _on_exhausted(environment: Environment, msg: Any) -> None:
    STATE.exhausted_senders.add(msg.node_id)
    assert STATE.plan is not None  # nosec B101 # type narrowing: the plan arrives first
    if len(STATE.exhausted_senders) >= STATE.plan.processes:
        gevent.spawn(_finish, environment, "every worker sent its whole pre-signed share")


def _exhausted(environment: Environment) -> None:
    if STATE.exhausted:
        return
    STATE.exhausted = True
    logger.info("this process sent its whole pre-signed share")
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.send_message(EXHAUSTED_MESSAGE, None)
    else:
        gevent.spawn(_finish, environment, "the whole pre-signed share was sent")


def _drain() -> None:
    """Send nothing more and wait for the deliveries in flight to be answered."""
    STATE.draining = True
    assert STATE.plan is not None  # nosec B101 # type narrowing: the plan arrives first
    deadline = time.monotonic() + STATE.plan.timeout_seconds + 5
    while STATE.in_flight and time.monotonic() < deadline:
        gevent.sleep(0.05)
    STATE.ledger.stale = STATE.pool.stale


def _on_finish(environment: Environment, msg: Any) -> None:
    """Worker: the master ends the run; drain, then send the ledger."""
    _drain()
    assert environment.runner is not None  # nosec B101 # type narrowing: a running worker
    environment.runner.send_message(
        LEDGER_MESSAGE, {"ledger": STATE.ledger.to_json(), "presign_seconds": STATE.presign_seconds}
    )


def _finish(environment: Environment, reason: str) -> None:
    """End the run (master or only process), then quit."""
    if STATE.finishing:
        return
    STATE.finishing = True
    runner = environment.runner
    assert runner is not None and STATE.plan is not None  # nosec B101 # type narrowing: a running master
    logger.info("%s: ending the run", reason)
    if isinstance(runner, MasterRunner):
        runner.send_message(FINISH_MESSAGE, None)
        deadline = time.monotonic() + STATE.plan.timeout_seconds + LEDGER_WAIT_SECONDS
        while len(STATE.senders) < STATE.plan.processes and time.monotonic() < deadline:
            gevent.sleep(0.2)
        ledger = STATE.merged
        ledger.processes = len(STATE.senders)
        # Workers report statistics every WORKER_REPORT_INTERVAL: wait for the report sent
        # after their last delivery, then for the CSV writer to write it.
        settle = WORKER_REPORT_INTERVAL + CSV_STATS_INTERVAL_SEC + 0.5
    else:
        _drain()
        ledger = STATE.ledger
        ledger.processes = 1
        settle = CSV_STATS_INTERVAL_SEC + 0.5
    path = getattr(environment.parsed_options, "readiness_ledger", None)
    if path:
        ledger.write(Path(path))
    logger.info("ledger: %d payments from %d process(es)", len(ledger.records), ledger.processes)
    gevent.sleep(settle)
    runner.quit()


# Locust's EventHook.add_listener is untyped (no annotations in locust/event.py).
events.init_command_line_parser.add_listener(_arguments)  # type: ignore[no-untyped-call]
events.init.add_listener(_init)  # type: ignore[no-untyped-call]
events.test_start.add_listener(_test_start)  # type: ignore[no-untyped-call]


class SignedWebhookUser(FastHttpUser):
    """A gateway sending pre-signed deliveries: new captures, their repeats and refunds."""

    wait_time = constant(0)  # the plan sets the pace: constant_throughput(rate / users) per user
    insecure = False
    network_timeout = 30.0
    connection_timeout = 30.0

    @classmethod
    def configure(cls, plan: LoadPlan) -> None:
        cls.wait_time = constant_throughput(plan.rate / plan.users) if plan.paced else constant(0)
        cls.network_timeout = cls.connection_timeout = plan.timeout_seconds
        ca_file = plan.ca_file
        if ca_file:
            cls.ssl_context_factory = staticmethod(lambda: gevent.ssl.create_default_context(cafile=ca_file))

    @task
    def deliver(self) -> None:
        if STATE.draining:
            gevent.sleep(0.2)
            return
        delivery = STATE.pool.take()
        if delivery is None:
            _exhausted(self.environment)
            gevent.sleep(0.5)
            return
        STATE.in_flight += 1
        try:
            with self.client.post(
                delivery.path,
                data=delivery.body,  # type: ignore[arg-type]  # geventhttpclient sends bytes as they are
                headers=delivery.headers,
                name=delivery.name,
                catch_response=True,
            ) as response:
                status = int(response.status_code or 0)
                if 200 <= status < 300:
                    response.success()
                elif status:
                    response.failure(f"HTTP {status}")
                else:
                    response.failure(f"no answer: {type(response.error).__name__}")
            STATE.ledger.record(delivery.payment, delivery.kind, status)
        finally:
            STATE.in_flight -= 1
