"""Steps for the Pre-launch infrastructure lines: Redis replication and the load balancer.

Redis: the replication the target's Redis reports (INFO replication, CLUSTER INFO).
Load balancer: requests sent through it, the instances `/health` names, and one instance
stopped (an outage: the embedded balancer's own, or the operator's `instance` hook).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from readiness_harness.checklist.outcomes import not_measured
from readiness_harness.gateways.clients import AdminClient, Reply, WebhookClient
from readiness_harness.gateways.events import Delivery, Payment
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.gateways.streaming import stream
from readiness_harness.settings.secrets import redact_url
from readiness_harness.target.balancer import LoadBalancer, accepted_by_instance, instances_answering
from readiness_harness.target.outages import Outages
from readiness_harness.target.replication import Replication, ReplicationReadError, read_replication
from readiness_harness.target.target import Target

RETRY_WINDOW_S = 60.0
RETURN_WINDOW_S = 60.0
USER_ID = "601"

# --- Redis replication


@when("the replication of the target's Redis is read", target_fixture="replication")
def _(replicated_redis: str, record_evidence: Callable[[str, Any], None]) -> Replication:
    try:
        replication = read_replication(replicated_redis)
    except ReplicationReadError as exc:
        raise AssertionError(f"{redact_url(replicated_redis)}: {exc}") from exc
    record_evidence("replication", {"redis": redact_url(replicated_redis), **replication.to_dict()})
    return replication


@then(
    parsers.parse(
        "Redis reports a primary with at least {count:d} replica online, a replica linked to its "
        "primary, or a healthy cluster"
    )
)
def _(replication: Replication, count: int) -> None:
    problems = replication.availability_problems(count)
    assert not problems, "; ".join(problems)


@then(parsers.parse("no replica is more than {seconds:d} seconds or {kib:d} KiB behind its primary"))
def _(replication: Replication, seconds: int, kib: int) -> None:
    problems = replication.lag_problems(seconds, kib * 1024)
    assert not problems, "; ".join(problems)


# --- the load balancer


@pytest.fixture
def balanced_gateway(readiness_target: Target, load_balancer: LoadBalancer) -> Iterator[GatewaySimulator]:
    """The gateway, sending through the load balancer instead of the target URL."""
    with WebhookClient(load_balancer.url, verify=load_balancer.verify) as client:
        yield GatewaySimulator(readiness_target, client)


@pytest.fixture
def balanced_admin(readiness_target: Target, load_balancer: LoadBalancer) -> Iterator[AdminClient]:
    readiness_target.require("admin")
    with AdminClient(
        load_balancer.url, readiness_target.secrets.admin_token, verify=load_balancer.verify
    ) as admin:
        yield admin


@dataclass
class Balanced:
    instances: list[str | None] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    per_instance: dict[str, float] = field(default_factory=dict)


def _one_pack_each(admin: AdminClient, payments: list[Payment], cards: int = 5) -> list[str]:
    wrong = []
    for payment in payments:
        reply = admin.purchase(payment.payment_id, payment.gateway)
        live = [card for card in reply.body.get("cards", []) if not card.get("revoked")]
        if reply.status_code != 200 or len(live) != cards:
            wrong.append(f"{payment.payment_id}: {reply.status_code}, {len(live)} live cards")
    return wrong


@when(
    parsers.parse("{health:d} health checks and {captures:d} captures are sent through the load balancer"),
    target_fixture="balanced",
)
def _(
    load_balancer: LoadBalancer,
    balanced_gateway: GatewaySimulator,
    health: int,
    captures: int,
    record_evidence: Callable[[str, Any], None],
) -> Balanced:
    gateway = balanced_gateway.require(balanced_gateway.primary)
    before = accepted_by_instance(load_balancer) if load_balancer.backends else {}
    result = Balanced()
    for status, instance in instances_answering(load_balancer, health):
        result.statuses.append(status)
        result.instances.append(instance)
    for _ in range(captures):
        payment = Payment.new(gateway, USER_ID, "black")
        result.payments.append(payment)
        result.replies.append(balanced_gateway.send(balanced_gateway.capture(payment)))
    if load_balancer.backends:
        after = accepted_by_instance(load_balancer)
        result.per_instance = {name: after[name] - before.get(name, 0.0) for name in after}
    record_evidence(
        "load_balancer",
        {
            "url": redact_url(load_balancer.url),
            "health_answers": {str(name): result.instances.count(name) for name in set(result.instances)},
            "health_statuses": sorted(set(result.statuses)),
            "captures_per_instance": result.per_instance or "not visible behind this balancer",
        },
    )
    return result


@then(parsers.parse("at least {count:d} instances answered the health checks"))
def _(balanced: Balanced, count: int) -> None:
    failed = [status for status in balanced.statuses if status != 200]
    assert not failed, (
        f"{len(failed)} of {len(balanced.statuses)} health checks failed through the balancer: {failed[:5]}"
    )
    named = {instance for instance in balanced.instances if instance}
    assert len(balanced.instances) == sum(1 for i in balanced.instances if i), (
        '/health does not name the instance that answered ({"status": "ok", "instance": ...}), so '
        "the balancer's spread cannot be seen"
    )
    assert len(named) >= count, (
        f"only {len(named)} instance(s) answered {len(balanced.instances)} health checks through the "
        f"balancer ({', '.join(sorted(named))}); at least {count} required"
    )


@then("every capture was acknowledged and delivered exactly one pack")
def _(balanced: Balanced, balanced_admin: AdminClient) -> None:
    refused = [
        f"{r.status_code} {r.body}"
        for r in balanced.replies
        if not (r.ok and r.body.get("status") == "captured")
    ]
    assert not refused, (
        f"{len(refused)} of {len(balanced.replies)} captures through the balancer failed: {refused[:3]}"
    )
    wrong = _one_pack_each(balanced_admin, balanced.payments)
    assert not wrong, f"{len(wrong)} payments lack exactly one pack: {wrong[:5]}"


@then("each instance the harness can see behind the balancer took some of the captures")
def _(balanced: Balanced, load_balancer: LoadBalancer) -> None:
    idle = [name for name, count in balanced.per_instance.items() if count < 1]
    assert not idle, (
        f"instance(s) {idle} took none of {len(balanced.payments)} captures "
        f"(per instance: {balanced.per_instance})"
    )


@dataclass
class InstanceOutage:
    outages: Outages
    before: set[str]
    deliveries: list[Delivery] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    during: list[tuple[int, str | None]] = field(default_factory=list)


@pytest.fixture
def balancer_outages(load_balancer: LoadBalancer, readiness_target: Target) -> Iterator[Outages]:
    """Stops one instance behind the balancer (not measured without a way to); whatever
    happens, the instance is started again when the scenario ends."""
    outages = load_balancer.outages
    if outages is None:
        control: Outages = readiness_target.require("outages")
        if "instance" not in control.parts:
            not_measured(
                "the outage hooks have no `instance` entry that stops one instance behind the load balancer",
                option="an `instance` stop/start entry in the --outage-hooks file",
            )
        outages = control
    try:
        yield outages
    finally:
        outages.restore_all()


@given("one instance behind the load balancer can be stopped and started", target_fixture="instance_outage")
def _(load_balancer: LoadBalancer, balancer_outages: Outages) -> InstanceOutage:
    before = {name for status, name in instances_answering(load_balancer, 12) if status == 200 and name}
    assert len(before) >= 2, f"before the outage only {sorted(before)} answered through the balancer"
    return InstanceOutage(balancer_outages, before)


@when(
    parsers.parse(
        "the gateway streams captures for {count:d} new payments through the load balancer, {in_flight:d} at "
        "a time, and one instance is killed once {answered:d} have been answered"
    )
)
def _(
    instance_outage: InstanceOutage,
    load_balancer: LoadBalancer,
    balanced_gateway: GatewaySimulator,
    count: int,
    in_flight: int,
    answered: int,
) -> None:
    gateway = balanced_gateway.require(balanced_gateway.primary)
    instance_outage.payments = [Payment.new(gateway, USER_ID, "black") for _ in range(count)]
    instance_outage.deliveries = [balanced_gateway.capture(payment) for payment in instance_outage.payments]
    killed = threading.Event()

    def kill_after(answers: int) -> None:
        if answers >= answered and not killed.is_set():
            killed.set()
            instance_outage.outages.stop("instance")

    instance_outage.replies = stream(
        load_balancer.url, load_balancer.verify, instance_outage.deliveries, in_flight, kill_after
    )
    assert killed.is_set(), (
        f"only {sum(r.ok for r in instance_outage.replies)} deliveries were answered: no kill"
    )


@then(
    parsers.parse(
        "after the gateway's retries every one of the {count:d} payments has exactly one pack of "
        "{cards:d} live cards"
    )
)
def _(
    instance_outage: InstanceOutage,
    balanced_gateway: GatewaySimulator,
    balanced_admin: AdminClient,
    count: int,
    cards: int,
    record_evidence: Callable[[str, Any], None],
) -> None:
    first_try = sum(reply.ok for reply in instance_outage.replies)
    pending = [
        d for d, r in zip(instance_outage.deliveries, instance_outage.replies, strict=True) if not r.ok
    ]
    retried = len(pending)
    deadline = time.monotonic() + RETRY_WINDOW_S
    while pending and time.monotonic() < deadline:
        pending = [delivery for delivery in pending if not balanced_gateway.send(delivery).ok]
        if pending:
            time.sleep(0.5)  # a gateway backs off between retries
    record_evidence(
        "failover",
        {"acknowledged_first_time": first_try, "retried": retried, "never_acknowledged": len(pending)},
    )
    assert not pending, (
        f"{len(pending)} deliveries were still refused after {RETRY_WINDOW_S:.0f} s of retries"
    )
    assert len(instance_outage.payments) == count
    wrong = _one_pack_each(balanced_admin, instance_outage.payments, cards)
    assert not wrong, f"{len(wrong)} of {count} payments lack exactly one pack: {wrong[:5]}"


@then("only the remaining instances answered while it was down")
def _(
    instance_outage: InstanceOutage, load_balancer: LoadBalancer, record_evidence: Callable[[str, Any], None]
) -> None:
    probes = instances_answering(load_balancer, max(12, 4 * len(instance_outage.before)))
    instance_outage.during = probes
    failed = [status for status, _ in probes if status != 200]
    answering = {name for status, name in probes if status == 200 and name}
    record_evidence("instances", {"before": sorted(instance_outage.before), "while_down": sorted(answering)})
    assert not failed, (
        f"{len(failed)} of {len(probes)} health checks failed while one instance was down: {failed[:5]}"
    )
    assert answering and len(answering) < len(instance_outage.before), (
        f"while one instance was down, {sorted(answering)} answered "
        f"(before: {sorted(instance_outage.before)}): "
        "the balancer kept sending requests to the stopped instance, or none was stopped"
    )


@when("the stopped instance is back")
def _(instance_outage: InstanceOutage) -> None:
    instance_outage.outages.start("instance")


@then(parsers.parse("at least {count:d} instances answer through the load balancer again"))
def _(instance_outage: InstanceOutage, load_balancer: LoadBalancer, count: int) -> None:
    deadline = time.monotonic() + RETURN_WINDOW_S
    answering: set[str] = set()
    while time.monotonic() < deadline:
        answering = {
            name for status, name in instances_answering(load_balancer, 12) if status == 200 and name
        }
        if len(answering) >= count:
            return
        time.sleep(1)
    raise AssertionError(
        f"{RETURN_WINDOW_S:.0f} s after the instance was started again only {sorted(answering)} answered "
        "through the balancer"
    )
