"""Fixtures of the infrastructure lines (loaded by the plugin as a pytest plugin).

On the embedded default the Redis replica and the load balancer are started by the first
line that asks for them and stopped at the end of the run. Against a deployment the
lines read what the run was given: its Redis (`--redis-url`) and its URL, with the
`instance` outage hook only under `--allow-disruption`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from readiness_harness.target.balancer import EmbeddedBalancerFactory, LoadBalancer
from readiness_harness.target.outages import Outages
from readiness_harness.target.replica import EmbeddedReplicationFactory
from readiness_harness.target.target import Target


@pytest.fixture(scope="session")
def replicated_redis(readiness_target: Target) -> Iterator[str]:
    """The URL of the target's Redis whose replication a line reads."""
    value = readiness_target.require("redis_replication")
    if isinstance(value, EmbeddedReplicationFactory):
        with value.replicated() as (primary_url, _replica):
            yield primary_url
    else:
        yield str(value)


@pytest.fixture(scope="session")
def load_balancer(readiness_target: Target) -> Iterator[LoadBalancer]:
    """What the load-balancer lines send through: the embedded HAProxy, or the target URL."""
    value = readiness_target.require("load_balancer")
    if isinstance(value, EmbeddedBalancerFactory):
        with value.running() as balancer:
            yield balancer
        return
    outages = readiness_target.provided.get("outages") if readiness_target.has("outages") else None
    yield LoadBalancer(
        str(value),
        readiness_target.verify,
        {},
        outages if isinstance(outages, Outages) and "instance" in outages.parts else None,
    )
