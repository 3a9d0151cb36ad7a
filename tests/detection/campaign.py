"""The detection campaign: every selected variant deployed and judged, a few at a time.

Each variant is deployed (its database prepared, its service started), judged by one
checklist run over the lines meant to catch it, and taken down again, in a worker thread,
so that deployments and runs overlap (each run spends much of its time waiting on HTTP).
Tests ask for a variant's outcome and wait only for that one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from checklist_runs import ChecklistRun, Runner
from module_by_path import load_module
from variant_catalogue import Variant
from variant_deployment import ForkServer, VariantDeployment

from readiness_harness.target.embedded import EmbeddedPostgres, free_port

logger = logging.getLogger(__name__)

LOAD_DEFECTS = Path(__file__).parents[1] / "load" / "defects.py"


def _load_defects() -> ModuleType:
    """tests/load/defects.py: the proxy that adds one defect on the wire."""
    return load_module("readiness_load_defects", LOAD_DEFECTS)


@dataclass(frozen=True)
class Outcome:
    variant: Variant
    run: ChecklistRun
    service_log: str
    deploy_s: float
    run_s: float


@dataclass
class Campaign:
    root: Path
    postgres: EmbeddedPostgres
    shared_cache: str = field(repr=False)
    service_environment: dict[str, str] = field(repr=False)
    """The secrets every variant is deployed with: never shown."""
    runner: Runner = field(repr=False)
    waivers: Path
    attestations: Path
    parallel: int
    pycache: Path
    futures: dict[str, Future[Outcome]] = field(default_factory=dict)
    deployments: list[VariantDeployment] = field(default_factory=list, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="detection")
        self.forkserver = ForkServer(self.pycache)

    def start(self, variants: list[Variant]) -> None:
        for variant in variants:
            if variant.name not in self.futures:
                self.futures[variant.name] = self.pool.submit(self._judge, variant)

    def outcome(self, variant: Variant) -> Outcome:
        self.start([variant])
        return self.futures[variant.name].result()

    def _judge(self, variant: Variant) -> Outcome:
        started = time.monotonic()
        paypal_port = free_port()
        environment = {**self.service_environment, "PAYPAL_API_BASE": f"http://127.0.0.1:{paypal_port}"}
        deployment = VariantDeployment.up(
            variant,
            self.root / variant.name,
            self.postgres,
            self.shared_cache,
            environment,
            self.pycache,
            self.forkserver,
        )
        with self.lock:
            self.deployments.append(deployment)
        deployed = time.monotonic()
        try:
            with self._address(variant, deployment) as url:
                run = self.runner.run(
                    url,
                    self.root / variant.name / "out",
                    gateways=variant.gateways,
                    marker=variant.marker or None,
                    paypal_port=paypal_port if "paypal" in variant.gateways else None,
                    hooks=deployment.hooks_file(),
                    waivers=self.waivers,
                    attestations=self.attestations,
                )
            log = deployment.log_tail()
        finally:
            deployment.down()
        finished = time.monotonic()
        logger.info(
            "%s: deployed in %.1fs, judged in %.1fs", variant.name, deployed - started, finished - deployed
        )
        return Outcome(variant, run, log, deployed - started, finished - deployed)

    @contextmanager
    def _address(self, variant: Variant, deployment: VariantDeployment) -> Iterator[str]:
        """The deployment's URL, or a defective proxy's in front of it."""
        if variant.proxy is None:
            yield deployment.url
            return
        defects: Any = _load_defects()
        with defects.DefectiveProxy(deployment.url, defects.Defect(**variant.proxy)) as proxy:
            yield proxy.url

    def close(self) -> None:
        """Stop the runs still going and every deployment (also on Ctrl-C)."""
        for future in self.futures.values():
            future.cancel()
        self.runner.close()
        self.pool.shutdown(wait=True, cancel_futures=True)
        with self.lock:
            deployments = list(self.deployments)
        try:
            for deployment in deployments:
                deployment.down()
        finally:
            self.forkserver.close()
