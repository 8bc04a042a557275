"""Forms of the Understand stage."""

from __future__ import annotations

from typing import Any

from django import forms

from changebank.listen.models import Programme, Question, Role

from .models import Code, Stance, SubmissionReading, Theme

CODING_CHOICES = [
    ("", "Coded or not"),
    ("uncoded", "Not coded yet"),
    ("ai", "Coded by the analysis only"),
    ("human", "Coded or checked by an analyst"),
    ("review", "Waiting for review"),
]


class CodedSubmissionFilterForm(forms.Form):
    """Filters for a programme's submissions by what the analysis and analysts found."""

    q = forms.CharField(required=False, max_length=200)
    theme = forms.ModelChoiceField(required=False, queryset=Theme.objects.none())
    code = forms.ModelChoiceField(required=False, queryset=Code.objects.none())
    stance = forms.ChoiceField(required=False, choices=[("", "Any stance"), *Stance.choices])
    sentiment = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "Any sentiment"), *SubmissionReading.SENTIMENT_LABELS.items()],
    )
    coding = forms.ChoiceField(required=False, choices=CODING_CHOICES)
    question = forms.ModelChoiceField(required=False, queryset=Question.objects.none())
    role = forms.ChoiceField(required=False, choices=[("", "Any role"), *Role.choices])
    organisation = forms.CharField(required=False, max_length=200)
    received_from = forms.DateField(required=False)
    received_to = forms.DateField(required=False)

    def __init__(self, *args: Any, programme: Programme, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["theme"].queryset = programme.themes.order_by("label")
        self.fields["code"].queryset = programme.codes.order_by("label")
        self.fields["question"].queryset = programme.questions.all()
