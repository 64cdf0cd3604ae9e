"""Expected failures of a command: what the operator fixes, said in one line.

Light on purpose (no web or database imports): the command line's entry point catches
these around every command, and `mercato --help` must not import the web stack to do so.
"""

from __future__ import annotations


class StartupError(Exception):
    """A problem the operator must fix (configuration, a port in use, a schema not
    migrated); printed as one line, exit code 2."""
