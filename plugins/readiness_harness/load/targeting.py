"""Which gateways a load run can send to a target: the ones it uses and the harness can
sign deliveries for that the target accepts."""

from __future__ import annotations

from collections.abc import Iterable

from readiness_harness.gateways.events import GATEWAYS, GatewayName
from readiness_harness.settings.secrets import Secrets
from readiness_harness.target.target import GATEWAY_SECRETS


def signable_gateways(
    gateways: Iterable[str], secrets: Secrets, *, embedded: bool, paypal_verified_here: bool
) -> tuple[tuple[GatewayName, ...], list[str]]:
    """(gateways to send, why each other one is left out). On the embedded default the
    harness holds every secret; on a target, a gateway needs its secret from the
    environment, and PayPal a PayPal API stand-in the target verifies with."""
    chosen: list[GatewayName] = []
    left_out: list[str] = []
    for name in GATEWAYS:
        if name not in gateways:
            continue
        if embedded:
            chosen.append(name)
        elif name == "paypal":
            if paypal_verified_here:
                chosen.append(name)
            else:
                left_out.append(
                    "paypal: PayPal signs its events with its own key; the target must verify "
                    "against the harness's stand-in (readiness paypal-sandbox) to be sent PayPal load"
                )
        elif secrets.given(GATEWAY_SECRETS[name]):
            chosen.append(name)
        else:
            left_out.append(f"{name}: no {GATEWAY_SECRETS[name]} in the environment to sign its deliveries")
    return tuple(chosen), left_out
