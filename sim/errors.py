"""Errors a user can cause: a bad scenario file, an unknown field, a missing file.

Each carries one message that names the field and the fix; the CLI prints it and exits 2.
"""


class ScenarioError(ValueError):
    """The scenario (or an override, or a file it refers to) is not usable as written."""
