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
    sector = forms.CharField(required=False, max_length=100)
    region = forms.CharField(required=False, max_length=100)
    detail = forms.ChoiceField(required=False, choices=[("", "Any detail")])
    detail_value = forms.CharField(required=False, max_length=200)
    received_from = forms.DateField(required=False)
    received_to = forms.DateField(required=False)

    def __init__(self, *args: Any, programme: Programme, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["theme"].queryset = programme.themes.order_by("label")
        self.fields["code"].queryset = programme.codes.order_by("label")
        self.fields["question"].queryset = programme.questions.all()
        self.fields["detail"].choices = [("", "Any detail"), *respondent_details(programme)]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("detail_value") and not data.get("detail"):
            self.add_error("detail", "Choose which respondent detail the value is for.")
        return data


#: Respondents read to find which equality answers and imported columns a programme has.
DETAIL_SCAN = 5_000


def respondent_details(programme: Programme) -> list[tuple[str, str]]:
    """The equality questions and imported columns a programme's respondents answered, as
    ``("equality:KEY" | "attributes:KEY", label)`` choices."""
    from changebank.listen.forms import EQUALITY_QUESTIONS

    keys: dict[str, str] = {}
    rows = programme.respondents.values_list("equality", "attributes")[:DETAIL_SCAN]
    for equality, attributes in rows:
        for key in equality or {}:
            label = EQUALITY_QUESTIONS.get(key, (key.replace("_", " ").capitalize(),))[0]
            keys.setdefault(f"equality:{key}", f"Equality: {label}")
        for key in attributes or {}:
            keys.setdefault(f"attributes:{key}", str(key))
    return sorted(keys.items(), key=lambda kv: kv[1].lower())


def filter_by_detail(qs: Any, detail: str, value: str) -> Any:
    """Submissions whose respondent gave ``value`` (exactly, ignoring case) for ``detail``."""
    field, _, key = detail.partition(":")
    if field not in ("equality", "attributes") or not key:
        return qs
    lookup = f"respondent__{field}__{key}"
    if value:
        return qs.filter(**{f"{lookup}__iexact": value})
    return qs.filter(**{f"{lookup}__isnull": False})
