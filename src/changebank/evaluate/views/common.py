"""Lookups, permissions and small helpers shared by the Evaluate pages."""

from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from changebank.listen.models import Programme

from ..models import Evaluation, TrackedChange

VIEW_CHANGE = "evaluate.view_trackedchange"
ADD_CHANGE = "evaluate.add_trackedchange"
CHANGE_CHANGE = "evaluate.change_trackedchange"
VIEW_EVALUATION = "evaluate.view_evaluation"
ADD_EVALUATION = "evaluate.add_evaluation"
CHANGE_EVALUATION = "evaluate.change_evaluation"
DELETE_EVALUATION = "evaluate.delete_evaluation"


def programme_or_404(slug: str) -> Programme:
    return get_object_or_404(Programme, slug=slug)


def tracked_or_404(programme: Programme, pk: int) -> TrackedChange:
    return get_object_or_404(TrackedChange, pk=pk, programme=programme)


def evaluation_or_404(programme: Programme, pk: int) -> Evaluation:
    return get_object_or_404(Evaluation, pk=pk, programme=programme)


def page_title(title: str, has_errors: object) -> str:
    """Error pages say so first in the title, as the NHS.UK design system asks."""
    return f"Error: {title}" if has_errors else title


def actor_name(request: HttpRequest) -> str:
    user = request.user
    if user.is_authenticated:
        return user.get_full_name() or user.get_username()
    return ""
