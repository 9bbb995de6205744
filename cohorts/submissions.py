"""Every create form is saved once, however often it is sent (a double click, a network retry).

Each rendered form carries a random token in a hidden field (``FIELD``; ``templates/_submission_token.html``
renders it, ``page_token`` chooses it). The view hands its service call to ``submit_once``, which records the
token (``cohorts.models.Submission``, unique) and the object created **in the same transaction** as the create:

- a token seen before answers with the object created the first time (``Outcome.repeated``); the view then
  redirects to it with ``ALREADY`` and nothing is saved twice;
- two requests with one token at the same moment are serialised by the unique index: the second waits for the
  first and, once it is committed, gets the IntegrityError that makes it a repetition; if the first was
  refused (rolled back), the second is a first submission;
- a refused save (a ValidationError from the service) rolls the token back with everything else, so the
  corrected form, sent again with the same token, is saved.

A POST without a (well-formed) token, e.g. a script, is saved as before, without this protection. Used by every
create view: screening, enrolment, the day entry page and the repeating forms of ecrf (docs/architecture.md §2:
views call services; this module only wraps the call).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _

from cohorts.models import Submission

FIELD = "submission_token"
ALREADY = _("This form was already submitted; nothing was saved twice.")
_WELL_FORMED = re.compile(r"[A-Za-z0-9_-]{32,64}")


@dataclass(frozen=True)
class Outcome:
    """What a submission gave: the object created (now, or the first time) and whether this was a repetition.

    ``obj`` is None for a repetition whose object is gone (deleted since) or was created by someone else.
    """

    obj: Any
    repeated: bool


def new_token() -> str:
    return secrets.token_urlsafe(32)


def posted_token(request) -> str | None:
    token = request.POST.get(FIELD, "") if request.method == "POST" else ""
    return token if _WELL_FORMED.fullmatch(token) else None


def page_token(request) -> str:
    """The token a page renders: the one just posted (a refused form shown again is still the same submission),
    else a new one."""
    return posted_token(request) or new_token()


def _created(submission: Submission, user) -> Any:
    if submission.user_id != user.pk or submission.content_type_id is None:
        return None
    model = ContentType.objects.get_for_id(submission.content_type_id).model_class()
    return model._default_manager.filter(pk=submission.object_id).first() if model is not None else None


def repeated(request) -> Outcome | None:
    """The outcome of an earlier submission of the posted token, or None: checked before the form is validated,
    because what the first submission saved can make the same form invalid now (an enrolled screening)."""
    token = posted_token(request)
    submission = Submission.objects.filter(token=token).first() if token else None
    return Outcome(_created(submission, request.user), True) if submission is not None else None


def submit_once(request, create: Callable[[], Any]) -> Outcome:
    """Run ``create`` (a service call) unless the posted token was submitted already; see the module docstring."""
    token, user = posted_token(request), request.user
    if token is None:
        return Outcome(create(), False)
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: a taken token leaves the transaction usable
                submission = Submission.objects.create(token=token, user=user)
        except IntegrityError:
            submission = None
        if submission is not None:
            obj = create()
            if isinstance(obj, models.Model) and obj.pk is not None:
                submission.content_type = ContentType.objects.get_for_model(obj)
                submission.object_id = obj.pk
                submission.save(update_fields=["content_type", "object_id"])
            return Outcome(obj, False)
    earlier = Submission.objects.get(token=token)
    return Outcome(_created(earlier, user), True)


def already_submitted(request, url: str):
    """The answer to a repetition: back to what the first submission created, saying so."""
    messages.info(request, ALREADY)
    return redirect(url)
