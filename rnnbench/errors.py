"""The one exception type for a user's mistake.

Anything raised as `UsageError` reaches the user as one line on stderr and exit
status 2 (see `rnnbench.cli`); everything else is a bug and keeps its traceback.
"""


class UsageError(ValueError):
    """Bad input from the user: an unknown name, an impossible size, a bad key."""


def choices(valid) -> str:
    """'a, b, c' for an error message listing the valid choices."""
    return ", ".join(str(v) for v in sorted(valid))


def unknown(kind: str, value, valid) -> UsageError:
    """The standard message: `unknown task 'foo' (valid: adding, copy, sine)`."""
    return UsageError(f"unknown {kind} {value!r} (valid: {choices(valid)})")
