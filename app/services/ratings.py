"""Storing a person's rating of an answer (light: imported by the API routes and the Slack bot at start)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import Feedback


def feedback_row(session: Session, message_id: int, user_id: int, *, rating: int, origin: str) -> Feedback:
    """A person's one feedback row on an answer (web 👍/👎, Slack button, an admin's correction): the existing one,
    or a new one with `rating` and `origin`; the caller then sets what it changes. Two at once (a double click, two
    tabs) raced on the (message, user) unique constraint and the loser was a 500: the loser now gets the winner's
    row. The caller's transaction must hold no other change yet: losing rolls it back whole."""
    def existing() -> Feedback | None:
        return session.scalar(select(Feedback).where(Feedback.message_id == message_id, Feedback.user_id == user_id))

    fb = existing()
    if fb is not None:
        return fb
    fb = Feedback(message_id=message_id, user_id=user_id, rating=rating, origin=origin)
    session.add(fb)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        fb = existing()
        if fb is None:
            raise
    return fb
