"""The one error `cdi` reports as a usage problem (`cdi: <message>`, exit status 2), not a crash.

Its own module so that the modules behind the subcommands can raise it without importing the CLI.
"""

from __future__ import annotations


class UsageError(Exception):
    """A problem with the command line or the folders it names."""
