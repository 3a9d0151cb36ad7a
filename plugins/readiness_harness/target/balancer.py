"""A load balancer in front of service instances: the embedded one, and what a line reads.

On the embedded default the load-balancer lines get HAProxy (Debian's `haproxy` package,
extracted into the venv by `make`) in front of two more processes of the reference
service on the deployment's own PostgreSQL and Redis, each named by INSTANCE_NAME so
`/health` says which one answered. They are started when the first of those lines asks
and stopped at the end of the run; the rest of the checklist never goes through them.
HAProxy checks each instance's `/health` every half second, takes an instance out after
two failed checks, and re-sends a request whose connection failed to another instance.

Against a deployment the balancer is the target URL itself; an instance outage runs the
operator's `instance` hooks (see `outages.py`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from readiness_harness.target.embedded import EmbeddedServerError, free_port
from readiness_harness.target.outages import OutageError, Outages
from readiness_harness.target.stack import (
    EmbeddedDeployment,
    SubprocessService,
    private_folder,
)

logger = logging.getLogger(__name__)

INSTANCES = ("instance-1", "instance-2")
START_TIMEOUT_S = 60.0
HAPROXY_NAME = "haproxy"

CONFIG = """\
global
    maxconn 512
{privileges}
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check 2s
    retries 3
    option redispatch
    retry-on conn-failure empty-response response-timeout
frontend webhooks
    bind {host}:{port}
    default_backend service
backend service
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
    default-server check inter 500ms fall 2 rise 1
{servers}
"""


UNPRIVILEGED = ("nobody", "nogroup")
"""Run as root, HAProxy binds its port and then drops to this user and group."""


def _privileges() -> str:
    """HAProxy's `user`/`group` lines when the harness runs as root (else it stays the
    harness's own user): it needs nothing of root's after it has bound its port."""
    import grp
    import pwd

    if os.geteuid() != 0:
        return ""
    user, group = UNPRIVILEGED
    try:
        pwd.getpwnam(user)
        grp.getgrnam(group)
    except KeyError:
        return ""
    return f"    user {user}\n    group {group}"


class HAProxyNotFound(EmbeddedServerError):
    """HAProxy is not installed; the message says how to get it."""


def find_haproxy() -> Path:
    """HAProxy on PATH, else the venv's (where `make` extracts it)."""
    on_path = shutil.which(HAPROXY_NAME)
    candidates = [Path(on_path)] if on_path else []
    candidates += [Path(sys.executable).parent / HAPROXY_NAME, Path("/usr/sbin/haproxy")]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise HAProxyNotFound(
        "haproxy was not found on PATH, in the venv or at /usr/sbin/haproxy: run `make .venv/bin/haproxy` "
        "(extracts it from Debian's haproxy package) or apt-get install haproxy"
    )


@dataclass(frozen=True)
class LoadBalancer:
    """What the load-balancer lines send through, and what they may look behind."""

    url: str
    verify: Any = True
    backends: dict[str, str] = field(default_factory=dict)
    """Instance name -> its own URL, when the harness knows them (the embedded balancer)."""
    outages: Outages | None = None
    """Stops one instance (the `instance` part), when the run may."""


class EmbeddedBalancer:
    """HAProxy and two service instances on the embedded deployment's servers."""

    def __init__(self, deployment: EmbeddedDeployment, host: str = "127.0.0.1") -> None:
        self.deployment = deployment
        self.host = host
        self.port = free_port(host)
        self.folder = private_folder("readiness-balancer-")
        # The deployment's own service settings (its database role, launch settings),
        # each instance named so /health says which one answered.
        env = dict(deployment.service.env)
        self.instances = {
            name: SubprocessService(
                {**env, "INSTANCE_NAME": name}, host=host, log_path=self.folder / f"{name}.log"
            )
            for name in INSTANCES
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _config(self) -> Path:
        servers = "\n".join(
            f"    server {name} {service.host}:{service.port}" for name, service in self.instances.items()
        )
        config = self.folder / "haproxy.cfg"
        text = CONFIG.format(host=self.host, port=self.port, servers=servers, privileges=_privileges())
        config.write_text(text, encoding="utf-8")
        config.chmod(0o600)
        return config

    def start(self) -> None:
        for service in self.instances.values():
            service.start()
        config = self._config()
        check = subprocess.run(
            [str(find_haproxy()), "-c", "-q", "-f", str(config)], capture_output=True, text=True, check=False
        )
        if check.returncode != 0:
            raise EmbeddedServerError(f"haproxy refused its configuration: {check.stdout}{check.stderr}")
        with (self.folder / "haproxy.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(find_haproxy()), "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        self.wait_for(set(INSTANCES))
        logger.info("HAProxy at %s in front of %s", self.url, ", ".join(INSTANCES))

    def wait_for(self, names: set[str], timeout: float = START_TIMEOUT_S) -> None:
        """Until requests through HAProxy have reached every instance in `names`."""
        seen: set[str] = set()
        unnamed = 0
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    log = (self.folder / "haproxy.log").read_text(errors="replace")[-2000:]
                    raise EmbeddedServerError(f"haproxy exited with {self.process.returncode}: {log}")
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    answer = client.get("/health")
                    if answer.status_code == 200:
                        named = answer.json().get("instance")
                        if named:
                            seen.add(str(named))
                        else:
                            unnamed += 1
                if names <= seen:
                    return
                if unnamed >= 10:
                    raise EmbeddedServerError(
                        "the reference service's /health does not name its instance "
                        '({"status": "ok", "instance": INSTANCE_NAME}): the instances behind the '
                        "balancer cannot be told apart"
                    )
                time.sleep(0.05)
        raise EmbeddedServerError(
            f"through HAProxy only {', '.join(sorted(seen)) or 'no instance'} answered within {timeout:.0f}s "
            f"(expected {', '.join(sorted(names))}); logs in {self.folder}"
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for service in self.instances.values():
            service.cleanup()

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def balancer(self) -> LoadBalancer:
        return LoadBalancer(
            self.url,
            True,
            {name: service.url for name, service in self.instances.items()},
            Outages(InstanceOutageControl(self)),
        )


class InstanceOutageControl:
    """Kills the last instance behind the embedded HAProxy (SIGKILL, requests cut
    mid-flight) and starts it again, waiting until HAProxy sends it traffic."""

    def __init__(self, balancer: EmbeddedBalancer) -> None:
        self.balancer = balancer
        self.victim = INSTANCES[-1]

    @property
    def parts(self) -> tuple[str, ...]:
        return ("instance",)

    def stop(self, part: str) -> None:
        if part != "instance":
            raise OutageError(f"the embedded balancer does not control a {part}")
        self.balancer.instances[self.victim].kill()

    def start(self, part: str) -> None:
        if part != "instance":
            raise OutageError(f"the embedded balancer does not control a {part}")
        service = self.balancer.instances[self.victim]
        if not service.is_running():
            service.start()
        self.balancer.wait_for({self.victim})


class EmbeddedBalancerFactory:
    """The embedded default's balancer, started when its line first asks."""

    def __init__(self, deployment: EmbeddedDeployment) -> None:
        self.deployment = deployment

    @contextlib.contextmanager
    def running(self) -> Iterator[LoadBalancer]:
        balancer = EmbeddedBalancer(self.deployment)
        try:
            balancer.start()
            yield balancer.balancer()
        finally:
            balancer.cleanup()


PROBE_TIMEOUT_S = 5.0


def instances_answering(balancer: LoadBalancer, requests: int) -> list[tuple[int, str | None]]:
    """(status, instance named by /health) for `requests` health checks through the
    balancer, each on a new connection (a balancer may keep a connection on one instance);
    status 0 when there was no HTTP answer."""
    answers: list[tuple[int, str | None]] = []
    for _ in range(requests):
        try:
            with httpx.Client(verify=balancer.verify, timeout=PROBE_TIMEOUT_S) as client:
                response = client.get(balancer.url.rstrip("/") + "/health")
        except httpx.HTTPError:
            answers.append((0, None))
            continue
        instance = None
        with contextlib.suppress(ValueError, AttributeError):
            named = response.json().get("instance")
            instance = str(named) if named else None
        answers.append((response.status_code, instance))
    return answers


def accepted_by_instance(balancer: LoadBalancer) -> dict[str, float]:
    """Each known instance's own count of accepted deliveries (its /metrics, read directly)."""
    from prometheus_client.parser import text_string_to_metric_families

    counts = {}
    for name, url in balancer.backends.items():
        with httpx.Client(verify=balancer.verify, timeout=PROBE_TIMEOUT_S) as client:
            text = client.get(url.rstrip("/") + "/metrics").text
        counts[name] = sum(
            float(sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "webhook_deliveries_total" and sample.labels.get("outcome") == "accepted"
        )
    return counts
