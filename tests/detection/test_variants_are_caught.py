"""Every defective variant of the reference service, run as a separate target by URL,
fails the checklist lines meant to catch it, each with the failure message that names the
defect; and the correct service, deployed and judged the same way, verifies every line of
the catalogue and fails no line (no false alarm) but the one that judges the deployment's
topology (one instance, no balancer), which every deployment here must fail."""

from __future__ import annotations

import json
import logging
from collections import Counter

import pytest
from campaign import Campaign
from variant_catalogue import DEPLOYMENT_FINDINGS, REFERENCE, VARIANTS, Variant, catching_tags

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("detection")]

PASSING_STATES = {"verified", "attested", "not measured", "not applicable"}
logger = logging.getLogger(__name__)


@pytest.mark.parametrize("variant", VARIANTS, ids=[variant.name for variant in VARIANTS])
def test_the_lines_meant_to_catch_it_fail(campaign: Campaign, variant: Variant) -> None:
    outcome = campaign.outcome(variant)
    run = outcome.run
    for tag, fragment in variant.catches.items():
        lines = run.tagged(tag)
        assert lines, f"no line tagged @{tag} ran against {variant.name}: {run.command}\n{run.output}"
        failed = [line for line in lines if line["state"] == "failed"]
        assert failed, (
            f"@{tag} did not catch {variant.name} ({variant.defect}): {run.describe(tag)}\n"
            f"service log: {outcome.service_log}"
        )
        messages = json.dumps([message for line in failed for message in line["messages"]])
        assert fragment in messages, (
            f"@{tag} failed on {variant.name}, but not for the defect (no {fragment!r} in its "
            f"messages): {run.describe(tag)}\nservice log: {outcome.service_log}"
        )
        caught = next(message for line in failed for message in line["messages"] if fragment in message)
        logger.info("@%s caught %s: %s", tag, variant.name, caught[:300])
    assert run.returncode == 1, f"a run with failed lines must exit 1, not {run.returncode}"


@pytest.mark.parametrize("variant", [REFERENCE], ids=["reference"])
def test_the_correct_service_fails_no_line_and_verifies_every_catching_line(
    campaign: Campaign, variant: Variant
) -> None:
    outcome = campaign.outcome(variant)
    run = outcome.run
    assert run.lines, f"the full run selected no line: {run.output}"
    for tag, fragment in DEPLOYMENT_FINDINGS.items():
        lines = run.tagged(tag)
        assert lines and all(line["state"] == "failed" for line in lines), (
            f"@{tag} must fail a deployment of one instance with no balancer: {run.describe(tag)}"
        )
        assert fragment in json.dumps([message for line in lines for message in line["messages"]]), (
            f"@{tag} failed on the single-instance deployment, but not for that: {run.describe(tag)}"
        )
    counts = Counter(line["state"] for line in run.lines)
    logger.info("the correct service's run: %d lines, %s", len(run.lines), dict(sorted(counts.items())))
    judged = [line for line in run.lines if not set(line["tags"]) & set(DEPLOYMENT_FINDINGS)]
    failed = {line["scenario"]: line["messages"][:3] for line in judged if line["state"] == "failed"}
    assert not failed, f"false alarms on the correct service: {failed}\nservice log: {outcome.service_log}"
    odd = {line["scenario"]: line["state"] for line in judged if line["state"] not in PASSING_STATES}
    assert not odd, odd
    for tag in catching_tags():
        lines = run.tagged(tag)
        assert lines, f"no line is tagged @{tag}"
        unverified = {line["scenario"]: (line["state"], line["messages"][:2]) for line in lines}
        assert all(line["state"] == "verified" for line in lines), (
            f"@{tag} catches a variant, so it must be measured and verified on the correct "
            f"service in the same conditions: {unverified}"
        )
