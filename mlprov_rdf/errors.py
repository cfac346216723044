"""The one exception type that the CLI turns into a single line and exit code 2."""


class UserError(Exception):
    """Bad input: says where (file, line or node), what is wrong and what to do."""


class StoreBusy(UserError):
    """Another process held the on-disk store for longer than we were willing to wait."""
