"""Serves the guardrails to the Pulumi engine: `pulumi preview --policy-pack infra/policy`."""

from pulumi_policy import EnforcementLevel, PolicyPack

from infra.policy.rules import POLICIES

PolicyPack(
    name="cdi-guardrails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=list(POLICIES),
)
