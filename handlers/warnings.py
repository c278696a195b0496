"""Team-channel warnings said once per cause.

A warning that would repeat while its cause stays the same (the weekly reach summary
missing week after week for a team without figures) is said once; it is said again only
when its cause changes, or after the condition cleared and came back. What was said is a
small named fact in `system_state` (`warned:<kind>` -> the cause).
"""

from __future__ import annotations

from sqlmodel import Session

from storage.models import SystemState

PREFIX = "warned:"


def first_time(session: Session, kind: str, cause: str) -> bool:
    """True (and remembered) if this warning has not been said for this cause yet."""
    key = PREFIX + kind
    state = session.get(SystemState, key)
    if state is not None and state.value == cause[:1000]:
        return False
    if state is None:
        state = SystemState(key=key, value=cause[:1000])
    else:
        state.value = cause[:1000]
    session.add(state)
    session.flush()
    return True


def cleared(session: Session, kind: str) -> None:
    """The condition is over: the next occurrence is a new cause, said again."""
    state = session.get(SystemState, PREFIX + kind)
    if state is not None:
        session.delete(state)
        session.flush()
