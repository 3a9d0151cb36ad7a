"""The timestamp examples cannot land on the wrong side of the 300-second window: signed
30 s beyond it they are refused, 30 s inside it accepted, 200 times in a row on every
gateway, whatever the clock's fraction when they are signed."""

from __future__ import annotations

import pytest

from readiness_harness.gateways import clock, tampering
from readiness_harness.gateways.events import GATEWAYS, GatewayName, Payment
from readiness_harness.gateways.simulator import GatewaySimulator

ROUNDS = 200


@pytest.mark.slow
@pytest.mark.parametrize("gateway", GATEWAYS)
def test_timestamps_beyond_the_window_are_refused_and_inside_it_accepted_every_time(
    payment_gateway: GatewaySimulator, gateway: GatewayName
) -> None:
    outcomes: list[tuple[str, int]] = []
    for _ in range(ROUNDS):
        for defect in ("a timestamp 330 seconds old", "a timestamp 330 seconds in the future"):
            payment = Payment.new(gateway, "t1", "black")
            delivery = tampering.defective_capture(payment_gateway.signer, payment, defect)
            outcomes.append((defect, payment_gateway.send(delivery).status_code))
        for name, stamp in (
            ("270 s old", clock.at_most_seconds_old),
            ("270 s ahead", clock.at_most_seconds_ahead),
        ):
            payment = Payment.new(gateway, "t1", "black")
            delivery = payment_gateway.signed(
                gateway, payment_gateway.events.capture(payment), timestamp=stamp(270)
            )
            outcomes.append((name, payment_gateway.send(delivery).status_code))
    wrong = [(what, status) for what, status in outcomes if status != (401 if "330" in what else 200)]
    assert not wrong, (
        f"{len(wrong)} of {len(outcomes)} timestamp deliveries fell on the wrong side: {wrong[:5]}"
    )
