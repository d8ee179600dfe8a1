"""Errors a caller can cause by handing the optimiser a malformed problem."""


class ProblemError(ValueError):
    """A problem object or instance file is malformed; the message names the field and the fix."""
