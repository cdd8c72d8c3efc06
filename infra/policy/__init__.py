"""The `cdi-guardrails` policy pack (pulumi-policy); rules in `rules.py`."""
