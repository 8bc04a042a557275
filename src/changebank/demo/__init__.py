"""The bundled demo: two programmes, real NHS comments and a login for each role.

``load_demo`` is idempotent: running it again changes nothing.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"
FFT_SAMPLE = DATA / "fft_sample.csv"

#: Demo logins, printed by ``make demo``. For a laptop only: never use them on a server.
DEMO_USERS = [
    ("admin", "admin", "demo-admin-pass"),
    ("analyst", "analyst", "demo-analyst-pass"),
    ("panel", "panel member", "demo-panel-pass"),
    ("evaluator", "evaluation lead", "demo-evaluator-pass"),
]

FFT_MAPPING = {
    "propose_rest": False,
    "columns": {
        "Comment ID": "id",
        "Respondent ID": "respondent_id",
        "FFT question": "question",
        "FFT answer": "text",
        "Date": "received_at",
        "Trust": "organisation",
        "Service type 1": "sector",
        "Service type 2": "attribute",
        "FFT categorical answer": "answer",
        "Comment sentiment": "attribute",
    },
}

BCN_WORKSTREAMS = [
    "Digital and virtual care",
    "Workforce and wellbeing",
    "Primary care",
    "Mental health",
    "Care homes and social care",
    "Urgent and emergency care",
    "Elective recovery",
    "Community services",
    "Partnership working",
    "Patients and carers as partners",
    "Discharge and flow",
    "Medicines",
    "Children and young people",
    "Learning disability and autism",
    "Health inequalities",
    "Research and innovation",
]


def load_demo() -> list[str]:
    """Create the demo programmes, import the sample, create the users; return lines to print."""
    from django.contrib.auth.models import Group, User

    from changebank.core.audit import acting_as
    from changebank.core.roles import ensure_roles
    from changebank.listen.importers.loader import file_sha256, import_file
    from changebank.listen.models import ImportBatch, Programme, Question, Workstream

    lines = []
    ensure_roles()
    with acting_as(label="demo"):
        fft, _ = Programme.objects.get_or_create(
            slug="fft-demo",
            defaults={
                "title": "Friends and Family Test comments from two NHS trusts",
                "summary": "3,000 real comments from an ambulance trust and a community and mental "
                "health trust, 2020 to 2022.",
                "description": "A sample of the NHS Friends and Family Test comments published by the "
                "pxtextmining project (NHS England, MIT licence). Patients said what was good and what "
                "could be better.",
                "organiser": "Demo data: NEAS and NHFT via pxtextmining",
                "visibility": Programme.Visibility.PUBLIC,
                "accepting_submissions": False,
                # The comments are already published (pxtextmining, MIT): quote and share them,
                # redacted, without a per-comment consent flag.
                "publication_basis": "all",
            },
        )
        if not ImportBatch.objects.filter(
            programme=fft, file_sha256=file_sha256(FFT_SAMPLE)
        ).exists():
            result = import_file(FFT_SAMPLE, fft, mapping=FFT_MAPPING)
            lines.append(result.summary())
        else:
            lines.append(f"Demo comments already loaded into '{fft.slug}'.")

        bcn, created = Programme.objects.get_or_create(
            slug="beneficial-changes",
            defaults={
                "title": "Beneficial changes: what should we keep?",
                "summary": "Tell us about a change made during COVID-19 that we should keep, and "
                "what should never come back.",
                "description": "During the pandemic, health and care changed fast. Some changes made "
                "things better for patients, carers and staff; others should never be repeated. Tell "
                "us what you saw, so the best changes can be kept and spread.",
                "organiser": "A demo listening programme",
                "consent_text": "I agree that my answers can be used to decide which changes to keep. "
                "Quotes may be published without my name or any details that could identify me.",
                "visibility": Programme.Visibility.PUBLIC,
            },
        )
        if created:
            Question.objects.create(
                programme=bcn,
                key="keep",
                position=1,
                stance="keep",
                required=True,
                prompt="What change made during COVID-19 would you keep?",
                hint="Describe the change and what difference it made, to you or to others.",
            )
            Question.objects.create(
                programme=bcn,
                key="never-again",
                position=2,
                stance="never_again",
                prompt="What should never come back?",
                hint="Something that stopped or changed, and should stay that way.",
            )
            Question.objects.create(
                programme=bcn,
                key="helped",
                position=3,
                kind="rating",
                rating_min=1,
                rating_max=5,
                prompt="How much did the change you would keep help?",
                hint="1 means not at all, 5 means a great deal.",
            )
            for name in BCN_WORKSTREAMS:
                Workstream.objects.get_or_create(programme=bcn, name=name)

    lines.append(analyse_demo(fft))
    lines.append(evaluate_demo(fft))
    lines.append(publish_demo(fft))

    for username, role, password in DEMO_USERS:
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_password(password)
            user.is_staff = user.is_superuser = role == "admin"
            user.save()
        user.groups.add(Group.objects.get(name=role))
    lines.append(f"Open http://127.0.0.1:8000/programmes/{fft.slug}/analysis/ to see the themes.")
    lines.append("Demo logins (for this laptop only):")
    lines += [f"  {role:<16} username {u:<10} password {p}" for u, role, p in DEMO_USERS]
    return lines


def analyse_demo(programme: object) -> str:
    """Run the analysis on the demo programme once (later runs of the demo keep what is there)."""
    from changebank.core.audit import acting_as
    from changebank.understand.analyse import analyse_now

    if programme.codes.exists():  # type: ignore[attr-defined]
        return f"Demo programme '{programme.slug}' already analysed."  # type: ignore[attr-defined]
    with acting_as(label="demo"):
        row = analyse_now(programme)
    if row.status != row.Status.DONE:
        raise RuntimeError(f"the demo analysis failed: {row.error}")
    r = row.result
    return (
        f"Analysed {r['submissions']:,} demo comments: {r['codes']:,} codes in {r['themes']:,} "
        f"themes, {r['distinct_changes']:,} distinct changes ({r['seconds']} s)."
    )


#: The illustrative evaluation: the demo trusts' monthly share of positive FFT answers, with an
#: invented go-live date so that the chart has a before and an after. Months with fewer than 30
#: answers in the sample are left out.
DEMO_GO_LIVE = (2022, 1, 1)
DEMO_MIN_ANSWERS = 30


def fft_positive_by_month(path: Path = FFT_SAMPLE) -> list[tuple[object, float]]:
    """(first of month, % of answers 1–5 that are 1 "very good" or 2 "good") from the FFT sample."""
    import csv
    import datetime as dt
    from collections import Counter

    answers: Counter = Counter()
    positive: Counter = Counter()
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            answer, day = row["FFT categorical answer"].strip(), row["Date"].strip()
            if answer not in {"1", "2", "3", "4", "5"} or not day:
                continue
            d, m, y = (int(part) for part in day.split("/"))
            if m > 12:  # the source mixes a few month-first dates (10/17/2021) into day-first ones
                d, m = m, d
            month = dt.date(y, m, 1)
            answers[month] += 1
            positive[month] += answer in {"1", "2"}
    return [
        (month, round(100 * positive[month] / answers[month], 1))
        for month in sorted(answers)
        if answers[month] >= DEMO_MIN_ANSWERS
    ]


def evaluate_demo(programme: object) -> str:
    """Track the demo's most-raised change and give it an illustrative, published evaluation with
    one metric, once (later runs of the demo keep what is there)."""
    import datetime as dt

    from changebank.core.audit import acting_as
    from changebank.evaluate.models import (
        Evaluation,
        EvaluationDesign,
        Metric,
        MetricValue,
        Outcome,
        Stage,
        StageMove,
        TrackedChange,
    )

    if TrackedChange.objects.filter(programme=programme).exists():
        return "Demo evaluation already there."
    change = programme.distinct_changes.order_by("-count", "id").first()  # type: ignore[attr-defined]
    with acting_as(label="demo"):
        tracked = TrackedChange.objects.create(
            programme=programme,
            change=change,
            title=(change.name or change.text)[:200] if change else "Friendly, caring staff",
            summary="An illustration: the most-raised change in the demo comments, tracked as if "
            "it had been adopted. The go-live date is invented to show how the chart reads.",
            stage=Stage.EVALUATING,
            go_live=dt.date(*DEMO_GO_LIVE),
        )
        StageMove.objects.create(tracked=tracked, to_stage=Stage.EVALUATING, note="Demo data.")
        if change and change.code and change.code.theme_id:
            tracked.themes.add(change.code.theme)
        evaluation = Evaluation.objects.create(
            programme=programme,
            title="Illustration: patient experience before and after go-live",
            summary="The monthly share of positive Friends and Family Test answers of the two demo "
            "trusts (real data), read as a Making Data Count chart with limits recalculated at an "
            "invented go-live date. An example of the method, not a finding.",
            status="ongoing",
            organisation="Demo data: NEAS and NHFT via pxtextmining",
            population="People who answered the Friends and Family Test",
            public=True,
        )
        evaluation.changes.add(tracked)
        EvaluationDesign.objects.create(evaluation=evaluation, design="interrupted_time_series")
        Outcome.objects.create(
            evaluation=evaluation,
            name="Positive Friends and Family Test answers",
            measure="Share of answers 1–5 that are ‘very good’ or ‘good’, by month.",
        )
        metric = Metric.objects.create(
            evaluation=evaluation,
            name="Positive FFT answers",
            unit="%",
            improvement="increase",
            target=85,
            source_filename=FFT_SAMPLE.name,
        )
        series = fft_positive_by_month()
        MetricValue.objects.bulk_create(
            MetricValue(metric=metric, period=month, value=value) for month, value in series
        )
    return f"Demo evaluation published with {len(series)} monthly points: /evaluations/"


def publish_demo(programme: object) -> str:
    """Publish the demo programme's themes in the public catalogue, once."""
    from changebank.core.audit import acting_as
    from changebank.share.models import PublishedTheme

    themes = programme.themes.filter(publication__isnull=True)  # type: ignore[attr-defined]
    if PublishedTheme.objects.filter(theme__programme=programme).exists():
        return "Demo themes already published."
    with acting_as(label="demo"):
        count = 0
        for theme in themes:
            PublishedTheme.objects.create(theme=theme)
            count += 1
    return f"Published {count} demo themes in the catalogue: /catalogue/"
