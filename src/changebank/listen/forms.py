"""Forms for the Listen stage: the public submission form, filters, and the import steps."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from changebank.core.forms import HoneypotForm

from .importers.mapping import ROLES
from .models import Programme, Question, Role, Submission

SECTORS = [
    ("", "Prefer not to say"),
    ("Acute hospital", "Acute hospital"),
    ("Primary care", "Primary care (GP, dentist, pharmacy, optometry)"),
    ("Mental health", "Mental health"),
    ("Community health", "Community health"),
    ("Ambulance", "Ambulance"),
    ("Social care", "Social care"),
    ("Voluntary sector", "Voluntary or community sector"),
    ("Other", "Other"),
]

#: Equality monitoring, as the NHS asks it; every question is optional and has "prefer not to say".
EQUALITY_QUESTIONS: dict[str, tuple[str, list[str]]] = {
    "age": (
        "What is your age?",
        [
            "Under 18",
            "18 to 24",
            "25 to 34",
            "35 to 44",
            "45 to 54",
            "55 to 64",
            "65 to 74",
            "75 or over",
        ],
    ),
    "sex": ("What is your sex?", ["Female", "Male"]),
    "disability": (
        "Do you have a physical or mental health condition or illness lasting or "
        "expected to last 12 months or more?",
        ["Yes", "No"],
    ),
    "ethnicity": (
        "What is your ethnic group?",
        [
            "Asian or Asian British",
            "Black, Black British, Caribbean or African",
            "Mixed or multiple ethnic groups",
            "White",
            "Other ethnic group",
        ],
    ),
}
PREFER_NOT = "Prefer not to say"


class SubmissionForm(HoneypotForm):
    """The public form for a programme, built from its questions (with the honeypot of
    :class:`~changebank.core.forms.HoneypotForm`)."""

    role = forms.ChoiceField(required=False, choices=[("", "Prefer not to say"), *Role.choices])
    organisation = forms.CharField(required=False, max_length=200)
    sector = forms.ChoiceField(required=False, choices=SECTORS)
    workstream = forms.ChoiceField(required=False, choices=[])
    consent = forms.BooleanField(required=False)

    def __init__(self, programme: Programme, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.programme = programme
        self.questions = list(programme.questions.filter(on_form=True))
        for q in self.questions:
            name = f"q_{q.key}"
            if q.kind == Question.Kind.FREE_TEXT:
                self.fields[name] = forms.CharField(
                    required=False,
                    max_length=q.max_length,
                    strip=True,
                    error_messages={
                        "max_length": f"Your answer must be {q.max_length:,} characters or fewer"
                    },
                )
            elif q.kind == Question.Kind.RATING:
                options = [(str(i), str(i)) for i in range(q.rating_min, q.rating_max + 1)]
                self.fields[name] = forms.ChoiceField(required=False, choices=[("", "")] + options)
            else:
                self.fields[name] = forms.ChoiceField(
                    required=False, choices=[("", "")] + [(c, c) for c in q.choices]
                )
        for key, (_label, options) in EQUALITY_QUESTIONS.items():
            self.fields[f"eq_{key}"] = forms.ChoiceField(
                required=False, choices=[("", "")] + [(o, o) for o in [*options, PREFER_NOT]]
            )
        self.fields["workstream"].choices = [("", "")] + [
            (str(w.pk), w.name) for w in programme.workstreams.all()
        ]

    def free_text_questions(self) -> list[Question]:
        return [q for q in self.questions if q.kind == Question.Kind.FREE_TEXT]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        texts = [q for q in self.free_text_questions() if data.get(f"q_{q.key}")]
        for q in self.free_text_questions():
            if q.required and not data.get(f"q_{q.key}") and f"q_{q.key}" not in self.errors:
                self.add_error(f"q_{q.key}", f"Enter your answer to ‘{q.prompt}’")
        if not texts and not self.errors:
            first = self.free_text_questions()[0] if self.free_text_questions() else None
            if first is not None:
                self.add_error(f"q_{first.key}", "Enter an answer to at least one question")
        if self.programme.consent_text and not data.get("consent"):
            self.add_error("consent", "Confirm that you agree to how your answers will be used")
        return data


class SubmissionFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200)
    programme = forms.ModelChoiceField(
        required=False, queryset=Programme.objects.all(), to_field_name="slug"
    )
    question = forms.ModelChoiceField(required=False, queryset=Question.objects.all())
    role = forms.ChoiceField(required=False, choices=[("", "Any role"), *Role.choices])
    sector = forms.CharField(required=False, max_length=100)
    organisation = forms.CharField(required=False, max_length=200)
    source = forms.ChoiceField(
        required=False, choices=[("", "Any source"), *Submission.Source.choices]
    )
    received_from = forms.DateField(required=False)
    received_to = forms.DateField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        slug = self.data.get("programme") if self.data else None
        if slug:
            self.fields["question"].queryset = Question.objects.filter(programme__slug=slug)


class ImportUploadForm(forms.Form):
    programme = forms.ModelChoiceField(queryset=Programme.objects.all(), to_field_name="slug")
    file = forms.FileField()

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        limit = settings.CHANGEBANK_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                f"The file is {upload.size:,} bytes; the largest allowed is {limit:,} bytes. "
                "Use the command line for larger files"
            )
        if upload.size == 0:
            raise forms.ValidationError(f"{upload.name} is empty (0 bytes)")
        return upload


class ImportConfirmForm(forms.Form):
    on_error = forms.ChoiceField(
        choices=[
            ("reject", "Import nothing if any row has a problem"),
            ("skip", "Import the good rows and give me a report of the rest"),
        ],
        initial="reject",
    )

    def __init__(self, headers: list[str], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.headers = headers
        for i, _header in enumerate(headers):
            self.fields[f"role_{i}"] = forms.ChoiceField(choices=list(ROLES.items()))

    def roles(self) -> dict[str, str]:
        return {h: self.cleaned_data[f"role_{i}"] for i, h in enumerate(self.headers)}
