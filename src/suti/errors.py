"""User-facing errors: the CLI prints these as one line, without a traceback."""


class SutiError(Exception):
    """A problem the user can fix (bad path, bad value, missing weights); its message is one line saying how."""
