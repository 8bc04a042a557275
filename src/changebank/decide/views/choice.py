"""Discrete choice experiments: analysts define attributes and levels, generate an efficient
design, open it; the public answers one choice set at a time (no account: a random respondent key
kept in the session); analysts read a conditional logit with standard errors clustered by
respondent, the relative importance of each attribute and the preference shares of profiles they
compose.

The maths is in :mod:`changebank.analysis.choice`; this module turns the database into its inputs
and its outputs into pages.

The design is stored in ``ChoiceExperiment.design`` as JSON::

    {"sets": [{"set": 0, "block": 0, "alternatives": [[level index per attribute], ...]}, ...],
     "d_efficiency": 0.93, "baseline": 0.71, "seed": 12345, "attributes": [...],
     "n_alternatives": 2, "n_blocks": 2, "generated_at": "..."}

``ChoiceAnswer.choice_set`` is the ``set`` number and ``chosen`` the index of the alternative
(0 for option A).
"""

from __future__ import annotations

import math
import random
import secrets
import string
import time
import warnings
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.forms import BaseFormSet, formset_factory
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_http_methods, require_POST

from changebank.core import ratelimit
from changebank.core.permissions import needs_permission
from changebank.listen.models import Programme

from ..models import ChoiceAnswer, ChoiceExperiment, Status
from ..participants import session_participant_key
from .overview import programme_or_404

VIEW = "decide.view_choiceexperiment"
ADD = "decide.add_choiceexperiment"
CHANGE = "decide.change_choiceexperiment"

MIN_ATTRIBUTES = 2
MAX_ATTRIBUTES = 8
MIN_LEVELS = 2
MAX_LEVELS = 7
START_ROWS = 4  # attribute rows on a new form
MAX_SETS = 48
MAX_BLOCKS = 10
DESIGN_STARTS = 10  # most random starts of the design search
DESIGN_SECONDS = 6.0  # the time the starts may take, roughly
#: Fewest respondents before the results are estimated.
MIN_RESPONDENTS = 10
#: Most answers one address may send to one experiment in an hour (against ballot stuffing).
ANSWER_RATE_LIMIT = 600
MAX_PROFILES = 4
IMPORTANCE_DRAWS = 2000  # simulated draws for the intervals of relative importance
LETTERS = string.ascii_uppercase


def option_label(index: int) -> str:
    return f"Option {LETTERS[index]}"


# --- defining an experiment ------------------------------------------------------------------------


def split_levels(text: str) -> list[str]:
    """The levels typed one per line, blank lines and surrounding spaces removed."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class ExperimentForm(forms.Form):
    title = forms.CharField(max_length=300)
    description = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)
    n_sets = forms.IntegerField(min_value=2, max_value=MAX_SETS, initial=12)
    n_alternatives = forms.TypedChoiceField(
        choices=[("2", "2"), ("3", "3")], coerce=int, initial="2"
    )
    n_blocks = forms.IntegerField(min_value=1, max_value=MAX_BLOCKS, initial=1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["title"].error_messages["required"] = "Enter a title"
        self.fields["n_sets"].error_messages.update(
            required="Enter the number of choice sets",
            invalid="Enter the number of choice sets as a whole number, like 12",
            min_value=f"Enter at least 2 choice sets, and no more than {MAX_SETS}",
            max_value=f"Enter no more than {MAX_SETS} choice sets",
        )
        self.fields["n_blocks"].error_messages.update(
            required="Enter the number of blocks (1 if every respondent answers every set)",
            invalid="Enter the number of blocks as a whole number, like 2",
            min_value="Enter at least 1 block",
            max_value=f"Enter no more than {MAX_BLOCKS} blocks",
        )
        self.fields["n_alternatives"].error_messages["invalid_choice"] = (
            "Choose 2 or 3 options in each choice set"
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        sets, blocks = data.get("n_sets"), data.get("n_blocks")
        if sets and blocks:
            if blocks > sets:
                self.add_error("n_blocks", "Enter no more blocks than choice sets")
            elif sets % blocks:
                self.add_error(
                    "n_blocks",
                    f"The {sets} choice sets must split evenly into blocks: choose a number of "
                    f"blocks that divides {sets}",
                )
        return data


class AttributeForm(forms.Form):
    name = forms.CharField(required=False, max_length=100)
    levels = forms.CharField(required=False, max_length=3000, widget=forms.Textarea)
    ordered = forms.BooleanField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        name = (data.get("name") or "").strip()
        levels = split_levels(data.get("levels", ""))
        data["name"], data["level_list"] = name, levels
        if not name and not levels:
            return data
        if not name:
            self.add_error("name", "Enter a name for this attribute, or clear its levels")
        if len(levels) < MIN_LEVELS:
            self.add_error(
                "levels",
                f"Enter at least {MIN_LEVELS} levels for {name or 'this attribute'}, one per line",
            )
        elif len(levels) > MAX_LEVELS:
            self.add_error(
                "levels", f"Enter no more than {MAX_LEVELS} levels for {name or 'this attribute'}"
            )
        elif len({level.casefold() for level in levels}) < len(levels):
            self.add_error("levels", f"Each level of {name or 'this attribute'} must be different")
        elif any(len(level) > 100 for level in levels):
            self.add_error("levels", "Keep each level to 100 characters or fewer")
        return data


class BaseAttributeFormSet(BaseFormSet):
    def clean(self) -> None:
        if any(self.errors):
            return
        filled = [form for form in self.forms if form.cleaned_data.get("name")]
        if len(filled) < MIN_ATTRIBUTES:
            raise ValidationError(
                f"Enter at least {MIN_ATTRIBUTES} attributes, each with a name and its levels"
            )
        if len(filled) > MAX_ATTRIBUTES:
            raise ValidationError(f"Enter no more than {MAX_ATTRIBUTES} attributes")
        seen: set[str] = set()
        for form in filled:
            key = form.cleaned_data["name"].casefold()
            if key in seen:
                form.add_error(
                    "name",
                    f"Each attribute needs a different name: {form.cleaned_data['name']} is used twice",
                )
            seen.add(key)

    def attributes(self) -> list[dict[str, Any]]:
        return [
            {
                "name": form.cleaned_data["name"],
                "levels": form.cleaned_data["level_list"],
                "ordered": bool(form.cleaned_data.get("ordered")),
            }
            for form in self.forms
            if form.cleaned_data.get("name")
        ]


AttributeFormSet = formset_factory(
    AttributeForm, formset=BaseAttributeFormSet, extra=0, max_num=MAX_ATTRIBUTES + 4
)


def attribute_initial(attributes: list[dict[str, Any]], rows: int) -> list[dict[str, Any]]:
    initial = [
        {"name": a["name"], "levels": "\n".join(a["levels"]), "ordered": a.get("ordered", False)}
        for a in attributes
    ]
    return initial + [{} for _ in range(max(0, rows - len(initial)))]


def with_more_rows(data: Any) -> tuple[ExperimentForm, BaseFormSet]:
    """The posted form again, not validated (nothing is saved yet), with one more empty
    attribute row."""
    try:
        total = int(data.get("attr-TOTAL_FORMS") or 0)
    except ValueError:
        total = 0
    total = max(0, min(total, MAX_ATTRIBUTES + 3))
    rows = [
        {
            "name": data.get(f"attr-{i}-name", ""),
            "levels": data.get(f"attr-{i}-levels", ""),
            "ordered": bool(data.get(f"attr-{i}-ordered")),
        }
        for i in range(total)
    ]
    form = ExperimentForm(initial={name: data.get(name, "") for name in ExperimentForm.base_fields})
    return form, AttributeFormSet(prefix="attr", initial=[*rows, {}])


def unique_slug(programme: Programme, title: str, exclude: int | None = None) -> str:
    base = slugify(title)[:70].strip("-") or "experiment"
    taken = set(programme.choice_experiments.exclude(pk=exclude).values_list("slug", flat=True))
    slug, n = base, 2
    while slug in taken:
        slug = f"{base}-{n}"
        n += 1
    return slug


def error_list(form: forms.Form, formset: BaseFormSet) -> list[dict[str, str]]:
    """The error summary's entries, each linking to its field."""
    out = []
    for name, errors in form.errors.items():
        anchor = f"#id_{name}" if name != "__all__" else "#id_title"
        out.extend({"text": e, "href": anchor} for e in errors)
    if formset.is_bound:
        for e in formset.non_form_errors():
            out.append({"text": e, "href": "#id_attr-0-name"})
        for i, errors in enumerate(formset.errors):
            for name, messages_ in errors.items():
                anchor = f"#id_attr-{i}-{name if name != '__all__' else 'name'}"
                out.extend({"text": e, "href": anchor} for e in messages_)
    return out


def _form_context(form: ExperimentForm, formset: BaseFormSet) -> dict[str, Any]:
    return {
        "form": form,
        "formset": formset,
        "errors": error_list(form, formset) if form.is_bound else [],
        "limits": {
            "attributes": MAX_ATTRIBUTES,
            "levels": MAX_LEVELS,
            "sets": MAX_SETS,
            "blocks": MAX_BLOCKS,
        },
    }


def _title(form: ExperimentForm, formset: BaseFormSet, title: str) -> str:
    """The page title, starting "Error: " when the form has errors (as the NHS pattern asks)."""
    return ("Error: " if form.is_bound and error_list(form, formset) else "") + title


def _bound_forms(
    request: HttpRequest,
) -> tuple[ExperimentForm, BaseFormSet]:
    if request.POST.get("action") == "more":
        return with_more_rows(request.POST)
    return ExperimentForm(request.POST), AttributeFormSet(request.POST, prefix="attr")


@require_http_methods(["GET", "POST"])
@needs_permission(VIEW)
def experiments(request: HttpRequest, slug: str) -> HttpResponse:
    """The programme's experiments, and the form that defines a new one."""
    programme = programme_or_404(slug)
    can_add = request.user.has_perm(ADD)
    if request.method == "POST":
        if not can_add:
            raise PermissionDenied
        form, formset = _bound_forms(request)
        if form.is_bound and form.is_valid() and formset.is_valid():
            data = form.cleaned_data
            experiment = ChoiceExperiment.objects.create(
                programme=programme,
                slug=unique_slug(programme, data["title"]),
                title=data["title"],
                description=data["description"],
                attributes=formset.attributes(),
                n_sets=data["n_sets"],
                n_alternatives=data["n_alternatives"],
                n_blocks=data["n_blocks"],
            )
            messages.success(
                request, f"Experiment “{experiment.title}” saved. Generate its design next."
            )
            return redirect("decide:experiment_detail", programme.slug, experiment.slug)
    else:
        form = ExperimentForm()
        formset = AttributeFormSet(prefix="attr", initial=attribute_initial([], START_ROWS))
    rows = list(
        programme.choice_experiments.annotate(
            respondents=Count("answers__respondent", distinct=True)
        ).order_by("-id")
    )
    return render(
        request,
        "decide/experiments.html",
        {
            "programme": programme,
            "experiments": rows,
            "can_add": can_add,
            **_form_context(form, formset),
            "page_title": _title(form, formset, f"Discrete choice experiments: {programme.title}"),
        },
    )


def experiment_or_404(programme: Programme, slug: str) -> ChoiceExperiment:
    return get_object_or_404(ChoiceExperiment, programme=programme, slug=slug)


@require_http_methods(["GET", "POST"])
@needs_permission(CHANGE)
def experiment_edit(request: HttpRequest, slug: str, experiment: str) -> HttpResponse:
    """Change the definition while the experiment is being prepared; a new definition drops the
    design, which must then be generated again."""
    programme = programme_or_404(slug)
    exp = experiment_or_404(programme, experiment)
    if exp.status != Status.DRAFT or exp.answers.exists():
        messages.info(
            request, "Only an experiment being prepared, with no answers, can be changed."
        )
        return redirect("decide:experiment_detail", programme.slug, exp.slug)
    if request.method == "POST":
        form, formset = _bound_forms(request)
        if form.is_bound and form.is_valid() and formset.is_valid():
            data = form.cleaned_data
            before = (exp.attributes, exp.n_sets, exp.n_alternatives, exp.n_blocks)
            exp.title = data["title"]
            exp.description = data["description"]
            exp.attributes = formset.attributes()
            exp.n_sets = data["n_sets"]
            exp.n_alternatives = data["n_alternatives"]
            exp.n_blocks = data["n_blocks"]
            changed = before != (exp.attributes, exp.n_sets, exp.n_alternatives, exp.n_blocks)
            if changed and exp.design:
                exp.design = {}
            exp.save()
            messages.success(
                request,
                "Experiment saved."
                + (" The design no longer fits it: generate it again." if changed else ""),
            )
            return redirect("decide:experiment_detail", programme.slug, exp.slug)
    else:
        form = ExperimentForm(
            initial={
                "title": exp.title,
                "description": exp.description,
                "n_sets": exp.n_sets,
                "n_alternatives": str(exp.n_alternatives),
                "n_blocks": exp.n_blocks,
            }
        )
        formset = AttributeFormSet(
            prefix="attr", initial=attribute_initial(exp.attributes, len(exp.attributes) + 1)
        )
    return render(
        request,
        "decide/experiment_edit.html",
        {
            "programme": programme,
            "experiment": exp,
            **_form_context(form, formset),
            "page_title": _title(form, formset, f"Change {exp.title}"),
        },
    )


# --- the design ---------------------------------------------------------------------------------------


def design_sets(exp: ChoiceExperiment) -> list[dict[str, Any]]:
    return list((exp.design or {}).get("sets") or [])


def sets_in_block(exp: ChoiceExperiment, block: int) -> list[dict[str, Any]]:
    return [s for s in design_sets(exp) if int(s.get("block", 0)) == block]


def describe_set(exp: ChoiceExperiment, choice_set: dict[str, Any]) -> dict[str, Any]:
    """A choice set for a page: its options and, per attribute, each option's level."""
    alternatives = choice_set["alternatives"]
    return {
        "set": choice_set["set"],
        "block": choice_set.get("block", 0),
        "options": [option_label(i) for i in range(len(alternatives))],
        "rows": [
            {
                "attribute": attribute["name"],
                "levels": [attribute["levels"][alt[k]] for alt in alternatives],
            }
            for k, attribute in enumerate(exp.attributes)
        ],
    }


def module_attributes(exp: ChoiceExperiment, ordered: bool = True) -> list[Any]:
    """The attributes for :mod:`changebank.analysis.choice`: named ``a0``, ``a1``, … (so that no
    name an analyst types can clash with the module's design columns), levels as their indices,
    ordered ones with the best level last (unless ``ordered`` is false: all nominal)."""
    from changebank.analysis import choice as dce

    return [
        dce.Attribute(
            f"a{k}",
            tuple(range(len(a["levels"]))),
            better="last" if ordered and a.get("ordered") else None,
        )
        for k, a in enumerate(exp.attributes)
    ]


def dominated(attributes: list[dict[str, Any]], alternatives: list[list[int]]) -> bool:
    """Whether an option of the set is dominated: another is at least as good on every ordered
    attribute (levels are listed worst to best), the same on every other attribute, and better on
    at least one. Nobody would choose it, so the set would tell nothing."""
    ordered = [bool(a.get("ordered")) for a in attributes]
    for i, a in enumerate(alternatives):
        for j, b in enumerate(alternatives):
            if i == j:
                continue
            at_least = all(
                (bv >= av) if o else (bv == av) for av, bv, o in zip(a, b, ordered, strict=True)
            )
            better = any(o and bv > av for av, bv, o in zip(a, b, ordered, strict=True))
            if at_least and better:
                return True
    return False


def design_starts(exp: ChoiceExperiment) -> int:
    """How many random starts the search can afford within a few seconds of a request: each
    start costs roughly sets × options × levels × parameters² (measured: about 5 s for one start
    at the largest design the form allows, 8 attributes of 7 levels in 48 sets of 3)."""
    levels = [len(a["levels"]) for a in exp.attributes]
    k = sum(levels) - len(levels)
    seconds = 1e-6 * exp.n_sets * exp.n_alternatives * sum(levels) * k * k + 0.05
    return max(1, min(DESIGN_STARTS, int(DESIGN_SECONDS / seconds)))


def generate_design(exp: ChoiceExperiment, seed: int | None = None) -> dict[str, Any]:
    """Generate an efficient design for ``exp`` with :func:`changebank.analysis.choice.choice_design`
    (effects coding, zero priors, seeded coordinate exchange from several random starts; no
    repeated set, no identical options; blocks balanced on level counts) and return it in the
    stored form (see the module docstring).

    Dominated options: the module rejects an option that is at least as good as another on every
    *ordered* attribute, whatever the other attributes. With a single ordered attribute that rule
    forbids it ever to differ within a set, so its effect could not be estimated; then the
    attributes go to the module as nominal and each design found is checked here with
    :func:`dominated` (which asks the other attributes to be equal too), searching again with the
    next seed until none is dominated.
    """
    from changebank.analysis import choice as dce

    seed = secrets.randbelow(2**31) if seed is None else seed
    first_seed = seed
    n_ordered = sum(bool(a.get("ordered")) for a in exp.attributes)
    module_rule = n_ordered >= 2
    starts = design_starts(exp)
    deadline = time.monotonic() + 2 * DESIGN_SECONDS
    tries = 0
    while True:
        tries += 1
        attributes = module_attributes(exp, ordered=module_rule)
        try:
            result = dce.choice_design(
                attributes,
                n_sets=exp.n_sets,
                n_alternatives=exp.n_alternatives,
                n_blocks=exp.n_blocks,
                coding="effects",
                n_starts=starts,
                random_state=seed,
            )
        except ValueError:
            if module_rule:  # the module's stricter rule leaves too few sets: check here instead
                module_rule = False
                continue
            raise
        sets: dict[int, dict[str, Any]] = {}
        for row in result.table.sort_values(["set", "alternative"]).to_dict("records"):
            number = int(row["set"]) - 1
            entry = sets.setdefault(
                number, {"set": number, "block": int(row["block"]) - 1, "alternatives": []}
            )
            entry["alternatives"].append([int(row[a.name]) for a in attributes])
        if not any(dominated(exp.attributes, s["alternatives"]) for s in sets.values()):
            break
        if time.monotonic() > deadline:
            raise ValueError(
                "every design found offered an option that another beats on every ordered "
                "attribute; add levels to the other attributes, or use fewer choice sets"
            )
        seed += 1
    return {
        "sets": [sets[k] for k in sorted(sets)],
        "d_efficiency": _float(result.d_efficiency),
        "d_error": _float(result.d_error),
        "baseline": _float(result.random_d_efficiency),
        "baseline_d_error": _float(result.random_d_error),
        "block_imbalance": _float(result.block_imbalance),
        "parameters": len(result.parameter_names),
        "seed": seed,
        "first_seed": first_seed,
        "tries": tries,
        "dominance": "module" if module_rule else "checked",
        "starts": starts,
        "passes": int(result.n_passes),
        "attributes": exp.attributes,
        "n_alternatives": exp.n_alternatives,
        "n_blocks": exp.n_blocks,
        "generated_at": timezone.now().isoformat(),
    }


def _float(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@require_POST
@needs_permission(CHANGE)
def experiment_design(request: HttpRequest, slug: str, experiment: str) -> HttpResponse:
    """Generate (or generate again) the design of an experiment being prepared."""
    programme = programme_or_404(slug)
    exp = experiment_or_404(programme, experiment)
    if exp.status != Status.DRAFT or exp.answers.exists():
        messages.info(request, "The design of an experiment that has been opened cannot change.")
        return redirect("decide:experiment_detail", programme.slug, exp.slug)
    try:
        exp.design = generate_design(exp)
    except ValueError as error:
        messages.error(request, f"The design could not be generated: {error}")
        return redirect("decide:experiment_detail", programme.slug, exp.slug)
    exp.save()
    efficiency, baseline = exp.design.get("d_efficiency"), exp.design.get("baseline")
    message = "Design generated"
    if efficiency is not None:
        message += f": D-efficiency {efficiency:.3f}"
        if baseline:
            message += f", against {baseline:.3f} for a random design"
    messages.success(request, message + ".")
    return redirect("decide:experiment_detail", programme.slug, exp.slug)


@require_POST
@needs_permission(CHANGE)
def experiment_status(request: HttpRequest, slug: str, experiment: str) -> HttpResponse:
    """Open (needs a design) or close an experiment; a closed one can be opened again."""
    programme = programme_or_404(slug)
    exp = experiment_or_404(programme, experiment)
    wanted = request.POST.get("status")
    if wanted == Status.OPEN:
        if not design_sets(exp):
            messages.error(request, "Generate the design before opening the experiment.")
        elif exp.status != Status.OPEN:
            exp.status = Status.OPEN
            exp.save()
            messages.success(request, "The experiment is open: anyone with the link can answer.")
    elif wanted == Status.CLOSED and exp.status == Status.OPEN:
        exp.status = Status.CLOSED
        exp.save()
        messages.success(request, "The experiment is closed: it takes no more answers.")
    return redirect("decide:experiment_detail", programme.slug, exp.slug)


@needs_permission(VIEW)
def experiment_detail(request: HttpRequest, slug: str, experiment: str) -> HttpResponse:
    programme = programme_or_404(slug)
    exp = experiment_or_404(programme, experiment)
    sets = [describe_set(exp, s) for s in design_sets(exp)]
    answers = exp.answers.count()
    by_block = dict(exp.answers.values_list("block").annotate(n=Count("respondent", distinct=True)))
    public = programme.visibility != Programme.Visibility.PRIVATE
    return render(
        request,
        "decide/experiment_detail.html",
        {
            "programme": programme,
            "experiment": exp,
            "sets": sets,
            "design": exp.design or {},
            "answers": answers,
            "respondents": exp.answers.values("respondent").distinct().count(),
            "blocks": [(b + 1, by_block.get(b, 0)) for b in range(exp.n_blocks)],
            "sets_per_block": exp.n_sets // max(exp.n_blocks, 1),
            "public": public,
            "public_url": request.build_absolute_uri(
                reverse("decide:experiment_take", args=[programme.slug, exp.slug])
            ),
            "can_change": request.user.has_perm(CHANGE),
            "editable": exp.status == Status.DRAFT and not answers,
            "page_title": exp.title,
        },
    )


# --- answering ------------------------------------------------------------------------------------------


def _public_experiment(slug: str, experiment: str) -> tuple[Programme, ChoiceExperiment]:
    """The experiment for the public: not in a private programme, and not being prepared."""
    programme = get_object_or_404(Programme, slug=slug)
    if programme.visibility == Programme.Visibility.PRIVATE:
        raise Http404("No such experiment")
    exp = experiment_or_404(programme, experiment)
    if exp.status == Status.DRAFT or not design_sets(exp):
        raise Http404("No such experiment")
    return programme, exp


def respondent_key(request: HttpRequest, exp: ChoiceExperiment) -> str:
    """This browser's random respondent key for ``exp``, kept in the session."""
    return session_participant_key(request, f"dce-{exp.pk}-respondent", nbytes=18)


def block_counts(exp: ChoiceExperiment) -> dict[int, int]:
    """Respondents who have answered at least one set, per block (every block listed)."""
    counts = dict.fromkeys(range(max(exp.n_blocks, 1)), 0)
    for block, n in exp.answers.values_list("block").annotate(n=Count("respondent", distinct=True)):
        if block in counts:
            counts[block] = n
    return counts


def assign_block(exp: ChoiceExperiment) -> int:
    """The block with the fewest respondents (ties broken at random, so that people arriving
    together spread over the tied blocks)."""
    counts = block_counts(exp)
    least = min(counts.values())
    return random.choice([b for b, n in counts.items() if n == least])


def respondent_block(request: HttpRequest, exp: ChoiceExperiment, key: str) -> int:
    """The respondent's block: from their answers if any, else from the session, else a new
    assignment kept in the session."""
    answered = exp.answers.filter(respondent=key).values_list("block", flat=True).first()
    if answered is not None:
        return answered
    name = f"dce-{exp.pk}-block"
    block = request.session.get(name)
    if block is None or not 0 <= int(block) < exp.n_blocks:
        block = assign_block(exp)
        request.session[name] = block
    return int(block)


def _answers_scope(exp: ChoiceExperiment) -> str:
    return f"dce-rate:{exp.pk}"


def _rate_limited(request: HttpRequest, exp: ChoiceExperiment) -> bool:
    return ratelimit.limit_reached(request, _answers_scope(exp), ANSWER_RATE_LIMIT)


def _count_answer(request: HttpRequest, exp: ChoiceExperiment) -> None:
    ratelimit.count(request, _answers_scope(exp))


def record_answer(
    exp: ChoiceExperiment, respondent: str, block: int, choice_set: int, chosen: int
) -> bool:
    """Store one answer; False when this respondent had already answered that set (the first
    answer stands, so a repeated or replayed request changes nothing)."""
    try:
        with transaction.atomic():
            _, created = ChoiceAnswer.objects.get_or_create(
                experiment=exp,
                respondent=respondent,
                choice_set=choice_set,
                defaults={"block": block, "chosen": chosen},
            )
    except IntegrityError:
        return False
    return created


@require_http_methods(["GET", "POST"])
def experiment_take(request: HttpRequest, slug: str, experiment: str) -> HttpResponse:
    """The public page: one choice set at a time, then thanks."""
    programme, exp = _public_experiment(slug, experiment)
    context: dict[str, Any] = {"programme": programme, "experiment": exp}
    if exp.status != Status.OPEN:
        context["page_title"] = "This experiment is closed"
        return render(request, "decide/experiment_closed.html", context)
    key = respondent_key(request, exp)
    block = respondent_block(request, exp, key)
    sets = sets_in_block(exp, block)
    answered = set(exp.answers.filter(respondent=key).values_list("choice_set", flat=True))
    error = None
    if request.method == "POST":
        if _rate_limited(request, exp):
            context["page_title"] = "Too many answers from this connection"
            return render(
                request, "decide/experiment_closed.html", context | {"limited": True}, status=429
            )
        numbers = {s["set"]: s for s in sets}
        try:
            number = int(request.POST.get("choice_set", ""))
        except ValueError:
            number = None
        if number not in numbers:
            return redirect("decide:experiment_take", programme.slug, exp.slug)
        n_options = len(numbers[number]["alternatives"])
        try:
            chosen = int(request.POST.get("chosen", ""))
        except ValueError:
            chosen = None
        if chosen is None or not 0 <= chosen < n_options:
            if number in answered:
                return redirect("decide:experiment_take", programme.slug, exp.slug)
            error = "Choose the option you prefer"
        else:
            if record_answer(exp, key, block, number, chosen):
                _count_answer(request, exp)
            return redirect("decide:experiment_take", programme.slug, exp.slug)
    remaining = [s for s in sets if s["set"] not in answered]
    if not remaining:
        context["page_title"] = "Thank you"
        context["total"] = len(sets)
        return render(request, "decide/experiment_done.html", context)
    current = remaining[0]
    position = len(sets) - len(remaining) + 1
    context.update(
        {
            "choice": describe_set(exp, current),
            "position": position,
            "total": len(sets),
            "error": error,
            "page_title": ("Error: " if error else "")
            + f"Choice {position} of {len(sets)}: {exp.title}",
        }
    )
    return render(request, "decide/experiment_take.html", context, status=400 if error else 200)


# --- results ----------------------------------------------------------------------------------------


def answer_rows(exp: ChoiceExperiment) -> list[tuple[str, int, int]]:
    """(respondent, choice set, chosen alternative) of every answer on a set of the design."""
    known = {s["set"]: len(s["alternatives"]) for s in design_sets(exp)}
    return [
        (r, s, c)
        for r, s, c in exp.answers.order_by("respondent", "choice_set").values_list(
            "respondent", "choice_set", "chosen"
        )
        if s in known and 0 <= c < known[s]
    ]


def estimate(exp: ChoiceExperiment, rows: list[tuple[str, int, int]]) -> Any:
    """The conditional logit fitted to the answers by
    :class:`changebank.analysis.choice.ConditionalLogit`: dummy coding against each attribute's
    first (worst) level, standard errors clustered by respondent. Any warning the fit gives (no
    convergence) is kept in ``warning_``."""
    import pandas as pd

    from changebank.analysis import choice as dce

    attributes = module_attributes(exp)
    names = [a.name for a in attributes]
    alternatives = {s["set"]: s["alternatives"] for s in design_sets(exp)}
    records, chosen_flags, sets, respondents = [], [], [], []
    for respondent, number, chosen in rows:
        for j, alternative in enumerate(alternatives[number]):
            records.append(alternative)
            chosen_flags.append(1 if j == chosen else 0)
            sets.append(number)
            respondents.append(respondent)
    X = pd.DataFrame(records, columns=names)
    model = dce.ConditionalLogit(attributes, coding="dummy")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        model.fit(X, chosen_flags, choice_set=sets, respondent=respondents)
    model.warning_ = next((str(w.message) for w in caught), "")
    return model


def _num(value: float, places: int = 3) -> str:
    """A signed number for a table, with a real minus sign."""
    if value is None or not math.isfinite(value):
        return "–"
    text = f"{value:,.{places}f}"
    return text.replace("-", "−")


def _pct(value: float, places: int = 1) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.{places}f}%"


def _p_value(p: float) -> str:
    if p is None or not math.isfinite(p):
        return "–"
    return "<\u00a00.001" if p < 0.001 else f"{p:.3f}"


def results_context(exp: ChoiceExperiment, fit: Any) -> dict[str, Any]:
    """The figures of the results page, formatted."""
    frame = fit.summary_frame()
    coefficients = []
    for k, attribute in enumerate(exp.attributes):
        for level_index in range(1, len(attribute["levels"])):
            row = frame.loc[f"a{k}[{level_index}]"]
            coefficients.append(
                {
                    "attribute": attribute["name"],
                    "level": attribute["levels"][level_index],
                    "reference": attribute["levels"][0],
                    "coef": _num(row["coef"]),
                    "se": _num(row["se"]),
                    "lower": _num(row["ci_lower"]),
                    "upper": _num(row["ci_upper"]),
                    "p": _p_value(row["p"]),
                    "significant": bool(row["p"] < 0.05),
                    "value": float(row["coef"]),
                }
            )
    importance = fit.relative_importance(n_draws=IMPORTANCE_DRAWS, random_state=0)
    bars = []
    for k, row in enumerate(importance.to_dict("records")):
        bars.append(
            {
                "attribute": exp.attributes[k]["name"],
                "value": float(row["importance"]),
                "lower": float(row["lower"]),
                "upper": float(row["upper"]),
                "importance": _pct(row["importance"]),
                "interval": f"{_pct(row['lower'])} to {_pct(row['upper'])}",
            }
        )
    bars.sort(key=lambda b: -b["value"])
    return {
        "coefficients": coefficients,
        "importance": bars,
        "chart": importance_chart(bars),
        "respondents": int(fit.n_respondents_),
        "choices": int(fit.n_choice_sets_),
        "parameters": len(fit.parameter_names_),
        "loglik": _num(fit.loglik_, 2),
        "loglik_null": _num(fit.loglik_null_, 2),
        "pseudo_r2": _num(fit.pseudo_r2_, 3),
        "converged": bool(fit.converged_) and not fit.warning_,
        "warning": fit.warning_,
    }


def importance_chart(bars: list[dict[str, Any]]) -> dict[str, Any]:
    """Geometry of the horizontal bar chart of relative importance, with interval whiskers."""
    left, right, top, row_height = 220, 620, 20, 44
    top_value = max([b["upper"] for b in bars] + [b["value"] for b in bars] + [10.0])
    scale_max = min(100.0, math.ceil(top_value / 10) * 10)

    def x(value: float) -> float:
        return round(left + (right - left) * min(max(value, 0.0), scale_max) / scale_max, 1)

    items = []
    for i, b in enumerate(bars):
        y = top + i * row_height
        items.append(
            {
                "label": b["attribute"] if len(b["attribute"]) <= 28 else b["attribute"][:27] + "…",
                "y": y,
                "mid": y + 14,
                "x0": left,
                "width": round(x(b["value"]) - left, 1),
                "low": x(b["lower"]),
                "high": x(b["upper"]),
                "text": b["importance"],
                "text_x": x(b["upper"]) + 6,
            }
        )
    bottom = top + len(bars) * row_height
    step = 10 if scale_max <= 50 else 20
    ticks = [(v, x(v)) for v in range(0, int(scale_max) + 1, step)]
    return {
        "width": 700,
        "height": bottom + 46,
        "left": left,
        "right": right,
        "top": top,
        "bottom": bottom,
        "bars": items,
        "ticks": ticks,
        "summary": "; ".join(f"{b['attribute']} {b['importance']}" for b in bars),
    }


class ProfilesForm(forms.Form):
    """Up to four profiles, one level per attribute; the first two are always used."""

    def __init__(self, *args: Any, attributes: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.attributes = attributes
        for p in range(MAX_PROFILES):
            for k, attribute in enumerate(attributes):
                choices = [(str(i), level) for i, level in enumerate(attribute["levels"])]
                if p >= 2:
                    choices = [("", "Not used"), *choices]
                self.fields[f"p{p}-{k}"] = forms.TypedChoiceField(
                    choices=choices, coerce=int, required=False, empty_value=None
                )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        profiles = []
        for p in range(MAX_PROFILES):
            chosen = [data.get(f"p{p}-{k}") for k in range(len(self.attributes))]
            if all(c is None for c in chosen) and p >= 2:
                continue
            if any(c is None for c in chosen):
                missing = next(k for k, c in enumerate(chosen) if c is None)
                self.add_error(
                    f"p{p}-{missing}",
                    f"Choose a level of every attribute for profile {p + 1}"
                    + (", or leave them all as not used" if p >= 2 else ""),
                )
                continue
            profiles.append((p, chosen))
        data["profiles"] = profiles
        return data


def default_profiles(attributes: list[dict[str, Any]]) -> dict[str, str]:
    """Profile 1 at every attribute's best (last) level, profile 2 at its worst (first)."""
    initial = {}
    for k, attribute in enumerate(attributes):
        initial[f"p0-{k}"] = str(len(attribute["levels"]) - 1)
        initial[f"p1-{k}"] = "0"
    return initial


@needs_permission(VIEW)
def experiment_results(request: HttpRequest, slug: str, experiment: str) -> HttpResponse:
    programme = programme_or_404(slug)
    exp = experiment_or_404(programme, experiment)
    rows = answer_rows(exp)
    respondents = len({r for r, _, _ in rows})
    context: dict[str, Any] = {
        "programme": programme,
        "experiment": exp,
        "respondents": respondents,
        "answers": len(rows),
        "minimum": MIN_RESPONDENTS,
        "page_title": f"Results: {exp.title}",
        "fit": None,
    }
    if not design_sets(exp) or respondents < MIN_RESPONDENTS:
        return render(request, "decide/experiment_results.html", context)
    try:
        fit = estimate(exp, rows)
    except (ValueError, ArithmeticError) as error:
        context["failure"] = str(error)
        return render(request, "decide/experiment_results.html", context)
    context["fit"] = results_context(exp, fit)
    form = ProfilesForm(
        request.GET if "p0-0" in request.GET else default_profiles(exp.attributes),
        attributes=exp.attributes,
    )
    context["form"] = form
    context["profile_errors"] = [
        {"text": e, "href": f"#id_{name}"} for name, errs in form.errors.items() for e in errs
    ]
    if form.is_valid():
        context["shares"] = shares_context(exp, fit, form.cleaned_data["profiles"])
    return render(request, "decide/experiment_results.html", context)


def shares_context(
    exp: ChoiceExperiment, fit: Any, profiles: list[tuple[int, list[int]]]
) -> list[dict[str, Any]]:
    """Preference shares of the composed profiles competing in one choice set, with the delta
    method's standard errors and intervals (from the module)."""
    frame = fit.shares(
        [{f"a{k}": level for k, level in enumerate(levels)} for _, levels in profiles]
    )
    out = []
    for (number, levels), row in zip(profiles, frame.to_dict("records"), strict=True):
        out.append(
            {
                "label": f"Profile {number + 1}",
                "levels": [
                    (attribute["name"], attribute["levels"][level])
                    for attribute, level in zip(exp.attributes, levels, strict=True)
                ],
                "share": _pct(100 * row["share"]),
                "se": _pct(100 * row["se"]),
                "interval": f"{_pct(100 * row['lower'])} to {_pct(100 * row['upper'])}",
                "value": float(row["share"]),
            }
        )
    return out


urlpatterns = [
    path("programmes/<slug:slug>/decide/experiments/", experiments, name="experiments"),
    path(
        "programmes/<slug:slug>/decide/experiments/<slug:experiment>/",
        experiment_detail,
        name="experiment_detail",
    ),
    path(
        "programmes/<slug:slug>/decide/experiments/<slug:experiment>/change/",
        experiment_edit,
        name="experiment_edit",
    ),
    path(
        "programmes/<slug:slug>/decide/experiments/<slug:experiment>/design/",
        experiment_design,
        name="experiment_design",
    ),
    path(
        "programmes/<slug:slug>/decide/experiments/<slug:experiment>/status/",
        experiment_status,
        name="experiment_status",
    ),
    path(
        "programmes/<slug:slug>/decide/experiments/<slug:experiment>/results/",
        experiment_results,
        name="experiment_results",
    ),
    path(
        "programmes/<slug:slug>/decide/choose/<slug:experiment>/",
        experiment_take,
        name="experiment_take",
    ),
]
