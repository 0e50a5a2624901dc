"""BBS's view of SQL errors: which kind each one is, and which ones a retry may cure.

BBS (``helpers.RetryOnDeadlock``) retries a whole transaction on MySQL 1213 (deadlock) and on
a bad or invalid connection. We retry the same, plus Galera's "not ready" (1047, a node that
left the Primary component) and a connection that could not be made at all (the proxy is
down, or is a standby that refuses with an error packet), which Go's ``database/sql`` retries
with a fresh connection.
"""

from __future__ import annotations

import pymysql

# kind -> retryable
KINDS: dict[str, bool] = {
    "deadlock": True,          # 1213: Galera certification failure or InnoDB deadlock
    "lost_connection": True,   # 2006, 2013, broken pipe, reset, read timeout
    "not_ready": True,         # 1047: WSREP has not yet prepared node for application use
    "connect": True,           # 2003, refused, unreachable, DNS without an answer
    "refused": True,           # an error packet instead of the greeting (standby proxy, too many)
    "lock_wait": False,        # 1205
    "exists": False,           # 1062
    "not_found": False,        # the row is not there (BBS ErrResourceNotFound)
    "cannot_transition": False,  # BBS ErrActualLRPCannotBeClaimed / Started
    "other": False,
}

_CODE_KINDS = {1213: "deadlock", 1047: "not_ready", 2006: "lost_connection", 2013: "lost_connection",
               2003: "connect", 1205: "lock_wait", 1062: "exists", 1927: "lost_connection",
               4031: "lost_connection", 2055: "lost_connection"}


class BbsError(RuntimeError):
    """One BBS operation failed; ``kind`` is a key of ``KINDS``, ``code`` the MySQL errno if any."""

    def __init__(self, kind: str, message: str, *, code: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.attempts = attempts

    @property
    def retryable(self) -> bool:
        """True when BBS would try the transaction again."""
        return KINDS.get(self.kind, False)


def classify(exc: BaseException, *, connecting: bool = False) -> BbsError:
    """Translate a PyMySQL or socket error into a ``BbsError`` (keeps the reason)."""
    if isinstance(exc, BbsError):
        return exc
    code: int | None = None
    if isinstance(exc, pymysql.err.MySQLError) and exc.args and isinstance(exc.args[0], int):
        code = exc.args[0]
    text = f"{type(exc).__name__}: {exc}"
    if code in _CODE_KINDS:
        kind = _CODE_KINDS[code]
    elif isinstance(exc, pymysql.err.InterfaceError | OSError | EOFError):
        kind = "connect" if connecting else "lost_connection"
    elif connecting and isinstance(exc, pymysql.err.OperationalError):
        kind = "refused"
    else:
        kind = "other"
    return BbsError(kind, text, code=code)


def is_connection_broken(error: BbsError) -> bool:
    """True when the connection that saw ``error`` must not go back to the pool."""
    return error.kind in ("lost_connection", "connect", "refused", "not_ready", "other")
