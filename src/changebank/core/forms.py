"""Pieces shared by the public forms (the take-part form, "add your experience", pulse feedback)."""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms


class HoneypotForm(forms.Form):
    """A form with a honeypot: a ``website`` field hidden from people, filled in by bots. Filling
    it is reported as an error on the field, never silently dropped.

    The templates draw the field themselves (in a ``cb-honeypot`` block that is ``aria-hidden``,
    out of the tab order and without autocomplete). The field stays last of the declared fields,
    after those of the form that uses it, so errors are listed in the order they always were.
    """

    website = forms.CharField(required=False, max_length=200)

    #: The error for a filled-in honeypot (a form may end it with a full stop, like its others).
    honeypot_error: ClassVar[str] = (
        "Leave the field called ‘website’ empty. It is there to stop automated spam"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Declared fields of a base form come first: move the honeypot after the form's own.
        self.fields["website"] = self.fields.pop("website")

    def clean_website(self) -> str:
        value = self.cleaned_data.get("website", "")
        if value:
            raise forms.ValidationError(self.honeypot_error)
        return value
