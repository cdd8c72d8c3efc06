"""Pulumi program entry point (`main: infra/` in Pulumi.yaml): read config, wire, export."""

from __future__ import annotations

import pulumi

from infra import config, stack

for name, value in stack.build(config.load()).items():
    pulumi.export(name, value)
