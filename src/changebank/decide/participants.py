"""Participants of the public Decide pages (wiki surveys, conversations, choice experiments).

Participants need no account. Each browser gets a random *participant key* kept in its session,
and that is what vote, idea, statement and answer rows store: never the session key itself,
which is a credential (for someone signed in, their login), changes at sign-in and must not land
in the database's vote rows or the audit trail. A participant who signs in keeps their key,
because signing in keeps the session's data.
"""

from __future__ import annotations

import secrets

from django.http import HttpRequest


def session_participant_key(
    request: HttpRequest,
    name: str,
    *,
    create: bool = True,
    nbytes: int = 24,
    save_new_session: bool = True,
) -> str:
    """This browser's participant key, kept in its session under ``name``; "" when it has none
    and ``create`` is false. A new key is ``nbytes`` random bytes as URL-safe text. With
    ``save_new_session``, a session not stored yet is saved at once; otherwise the session
    middleware saves it at the end of the request."""
    key = request.session.get(name, "")
    if key or not create:
        return key
    key = secrets.token_urlsafe(nbytes)
    request.session[name] = key
    if save_new_session and not request.session.session_key:
        request.session.save()
    return key
