"""Errors a user can cause.

Entry points catch `GanJaxError`, print its message on one line and exit with
status 2, without a traceback. Everything else is a bug and keeps its traceback.
"""


class GanJaxError(Exception):
    """Base class: something the user can fix (a config, a path, a dataset)."""


class ConfigError(GanJaxError):
    """A config field is unknown, ill-typed or inconsistent with the others."""


class DataError(GanJaxError):
    """A dataset cannot be found, read or decoded."""


class CheckpointError(GanJaxError):
    """A checkpoint is missing, corrupt or incompatible with the config."""


class NonFiniteError(GanJaxError):
    """A loss or gradient became NaN or infinite; the run stopped before saving it."""
