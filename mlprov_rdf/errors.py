"""The one exception type that the CLI turns into a single line and exit code 2."""


class UserError(Exception):
    """Bad input: says where (file, line or node), what is wrong and what to do."""


class StoreBusy(UserError):
    """Another process held the on-disk store for longer than we were willing to wait."""


class StoreDamaged(UserError):
    """The on-disk store cannot be read as it is; it was left exactly as found, never re-created."""


class StoreReadOnly(UserError):
    """A job that writes met a store it may not write to (read-only folder or file system)."""


class QueryTimeout(UserError):
    """A query ran past its time limit and was stopped; nothing was changed."""


#: Seconds a query may run when no limit is given: well below the two minutes a writer
#: waits for the embedded store, so a reader never makes a writer give up. Here, beside
#: the error it leads to, so that a command's --help need not import the store.
DEFAULT_TIMEOUT_S = 60.0


class StoreUnreachable(UserError):
    """A SPARQL server did not answer a request: it did not take what the request carried."""
