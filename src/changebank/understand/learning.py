"""The active-learning loop: the coding model learns from the analysts' decisions as they make them.

Each analyst decision (:func:`changebank.understand.board.set_codes`) is kept as a
:class:`CodingDecision` beside what the AI suggested just before. After
``CodingSettings.retrain_every`` new decisions, :func:`note_decision` queues the retraining task,
which

1. measures how well the model in use agreed with the decisions made since the last round (sample
   F1 and Cohen's kappa for each code, AI against analyst), before it changes anything;
2. trains a supervised :class:`~changebank.analysis.coder.Coder` on every submission an analyst has
   coded (when at least two codes have two examples or more);
3. replaces the AI's codes of every submission no analyst has decided with the new model's, in one
   transaction (human decisions are never touched), and keeps the submissions whose coding would
   teach the model most: the "code these next" queue.

Each run is a :class:`TrainingRound`; its ``metrics`` are the agreement panel's data.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from django.db import connections, router, transaction
from django.db.models import Exists, F, Max, OuterRef, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from changebank.analysis.agreement import kappa_per_code, sample_f1
from changebank.core.audit import acting_as, record
from changebank.core.models import Task
from changebank.core.tasks import claim, enqueue, task
from changebank.core.tasks import run as run_task
from changebank.listen.models import Programme, Submission

from .analyse import update_code_sizes
from .models import (
    Code,
    CodeAssignment,
    CodeSpan,
    CodingDecision,
    CodingSettings,
    Origin,
    TrainingRound,
)

log = logging.getLogger(__name__)

RETRAIN_TASK = "understand.retrain"
#: A code is learned when analysts have given it to at least this many submissions ...
MIN_EXAMPLES = 2
#: ... and training needs at least this many such codes.
MIN_CODES = 2
#: How many submissions each round puts in the "code these next" queue.
NEXT_SIZE = 60
#: Suggestions below this probability are flagged for review.
REVIEW_BELOW = 0.5
#: Rows written at a time.
BATCH = 5_000
#: Agreement of two human coders (sample F1), as i.AI measured it: the bar for the AI.
HUMAN_SAMPLE_F1 = 0.75

#: Landis and Koch's reading of kappa: (lower bound, words).
KAPPA_BANDS = [
    (0.81, "almost perfect"),
    (0.61, "substantial"),
    (0.41, "moderate"),
    (0.21, "fair"),
    (0.0, "slight"),
    (-math.inf, "poor (no better than chance)"),
]


def kappa_band(kappa: float | None) -> str:
    """How Landis and Koch read a kappa ("moderate", "substantial", ...)."""
    if kappa is None or (isinstance(kappa, float) and math.isnan(kappa)):
        return "not known"
    for bound, words in KAPPA_BANDS:
        if kappa >= bound:
            return words
    return KAPPA_BANDS[-1][1]  # pragma: no cover


# --- which submissions are decided ---------------------------------------------------------------


def undecided(programme: Programme) -> QuerySet[Submission]:
    """The programme's approved submissions no analyst has decided: none of their codes is an
    analyst's, and they are not ones an analyst decided have no code at all."""
    human = CodeAssignment.objects.filter(submission=OuterRef("pk"), origin=Origin.HUMAN)
    coded = CodeAssignment.objects.filter(submission=OuterRef("pk"))
    decision = CodingDecision.objects.filter(submission=OuterRef("pk"))
    return (
        Submission.objects.filter(
            programme=programme, moderation_status=Submission.Moderation.APPROVED
        )
        .exclude(Exists(human))
        .exclude(Exists(decision) & ~Exists(coded))
    )


# --- when to retrain -----------------------------------------------------------------------------


def latest_round(programme: Programme) -> TrainingRound | None:
    return TrainingRound.objects.filter(programme=programme).order_by("-number").first()


def _last_decision(round_: TrainingRound | None) -> int:
    if round_ is None:
        return 0
    last = (round_.metrics or {}).get("last_decision")
    if last is not None:
        return int(last)
    # a round without the marker: the decisions made before it
    found = CodingDecision.objects.filter(
        programme_id=round_.programme_id, created_at__lte=round_.created_at
    ).aggregate(m=Max("pk"))["m"]
    return int(found or 0)


def decisions_since(
    programme: Programme, round_: TrainingRound | None = None
) -> QuerySet[CodingDecision]:
    """The decisions made since ``round_`` (by default the latest round; all before any round)."""
    if round_ is None:
        round_ = latest_round(programme)
    return CodingDecision.objects.filter(programme=programme, pk__gt=_last_decision(round_))


def pending_retrain(programme: Programme) -> Task | None:
    """The retraining of ``programme`` queued or running now, if any."""
    return (
        Task.objects.filter(
            name=RETRAIN_TASK,
            status__in=[Task.Status.QUEUED, Task.Status.RUNNING],
            params__programme=programme.pk,
        )
        .order_by("id")
        .first()
    )


def latest_retrain(programme: Programme) -> Task | None:
    """The most recent retraining task of ``programme`` (whatever its state)."""
    return (
        Task.objects.filter(name=RETRAIN_TASK, params__programme=programme.pk)
        .order_by("-id")
        .first()
    )


def _queue(programme: Programme, user: Any, background: bool, reason: str) -> tuple[Task, bool]:
    """The retraining queued or running now, else a new one; and whether it is new."""
    with transaction.atomic():
        # one at a time per programme: locking the settings row serialises concurrent callers
        settings = CodingSettings.for_programme(programme)
        CodingSettings.objects.select_for_update().filter(pk=settings.pk).first()
        pending = pending_retrain(programme)
        if pending is not None:
            return pending, False
        row = enqueue(
            RETRAIN_TASK,
            created_by=user,
            start=background,
            programme=programme.pk,
            reason=reason[:200],
        )
        return row, True


def start_retrain(
    programme: Programme, user: Any = None, *, background: bool = True, reason: str = ""
) -> Task:
    """Queue the retraining of ``programme`` (or return the one already queued or running)."""
    return _queue(programme, user, background, reason)[0]


def note_decision(programme: Programme) -> Task | None:
    """Called after every analyst decision: queue the retraining when ``retrain_every`` decisions
    have been made since the last round and none is queued or running. Returns the queued task."""
    every = CodingSettings.for_programme(programme).retrain_every
    n = decisions_since(programme).count()
    if n < every or pending_retrain(programme) is not None:
        return None
    row, new = _queue(programme, None, True, f"{n:,} new decisions (retrains after {every:,})")
    return row if new else None


def retrain_now(programme: Programme, user: Any = None) -> Task:
    """Retrain ``programme`` in this thread (commands and tests); returns the finished task."""
    row = start_retrain(programme, user, background=False, reason="run directly")
    claimed = claim(row.pk)
    if claimed is None:
        raise RuntimeError("the retraining task was taken by a worker")
    return run_task(claimed)


# --- agreement -----------------------------------------------------------------------------------


def agreement(
    pairs: Iterable[tuple[Sequence[int], Sequence[int]]], labels: dict[int, str] | None = None
) -> dict[str, Any]:
    """AI against analyst over decisions given as ``(ai_codes, human_codes)`` pairs.

    Decisions where the AI had suggested nothing (a submission an analyst had already coded) are
    counted but not compared. Returns ``n_decisions``, ``n_compared``, ``sample_f1`` (analyst as
    the truth), ``mean_kappa`` and ``kappa``: one entry for each code either side used, with its
    kappa, how many submissions the AI and the analysts gave it, and its label.
    """
    pairs = [(list(a or []), list(h or [])) for a, h in pairs]
    compared = [(a, h) for a, h in pairs if a]
    out: dict[str, Any] = {
        "n_decisions": len(pairs),
        "n_compared": len(compared),
        "sample_f1": None,
        "mean_kappa": None,
        "kappa": [],
    }
    if not compared:
        return out
    codes = sorted({int(c) for a, h in compared for c in (*a, *h)})
    col = {c: j for j, c in enumerate(codes)}
    AI = np.zeros((len(compared), len(codes)), dtype=np.int8)
    HU = np.zeros_like(AI)
    for i, (a, h) in enumerate(compared):
        AI[i, [col[int(c)] for c in a]] = 1
        HU[i, [col[int(c)] for c in h]] = 1
    out["sample_f1"] = round(sample_f1(HU, AI), 4)
    kappas = kappa_per_code(HU, AI)
    labels = labels or {}
    out["kappa"] = [
        {
            "code": c,
            "label": labels.get(c, f"Code {c}"),
            "kappa": round(float(kappas[j]), 4),
            "ai": int(AI[:, j].sum()),
            "human": int(HU[:, j].sum()),
        }
        for j, c in enumerate(codes)
    ]
    out["mean_kappa"] = round(float(np.mean(kappas)), 4)
    return out


def _labels(programme: Programme, codes: Iterable[int] | None = None) -> dict[int, str]:
    qs = Code.objects.filter(programme=programme)
    if codes is not None:
        qs = qs.filter(pk__in=list(codes))
    return dict(qs.values_list("pk", "label"))


def overall_agreement(programme: Programme) -> dict[str, Any]:
    """AI against analyst over every decision made so far in ``programme``."""
    pairs = list(
        CodingDecision.objects.filter(programme=programme)
        .order_by("pk")
        .values_list("ai_codes", "human_codes")
    )
    return agreement(pairs, _labels(programme))


def candidates(P: np.ndarray, thresholds: np.ndarray, texts: Sequence[str], n: int) -> np.ndarray:
    """The rows ``Coder.suggest_next(texts, n)`` can pick from, so that it need not score every
    text again: for each code, the ``n`` non-blank texts most uncertain about it (``suggest_next``
    ranks texts by their smallest distance to a code's threshold and takes codes in turn, so it
    never takes more than ``n`` from one code)."""
    if not len(P):
        return np.zeros(0, dtype=int)
    margin = np.abs(P - np.asarray(thresholds)[None, :])
    code = margin.argmin(axis=1)
    uncertainty = margin[np.arange(len(P)), code]
    blank = np.array([not t.strip() for t in texts], dtype=bool)
    keep = []
    for j in np.unique(code[~blank]):
        rows = np.flatnonzero((code == j) & ~blank)
        keep.append(rows[np.argsort(uncertainty[rows], kind="stable")[:n]])
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=int)


# --- the retraining task -------------------------------------------------------------------------


@task(RETRAIN_TASK)
def retrain(row: Task, programme: int, reason: str = "") -> dict[str, Any]:
    """The task: retrain the coding model of a programme on its analysts' decisions."""
    prog = Programme.objects.get(pk=programme)
    with acting_as(row.created_by, label=None if row.created_by else "retraining"):
        return Retraining(prog, row).run()


class Retraining:
    """One round of the loop, step by step (see the module's description)."""

    def __init__(self, programme: Programme, row: Task | None = None) -> None:
        self.programme = programme
        self.task = row
        self.metrics: dict[str, Any] = {}

    def report(self, progress: int, stage: str) -> None:
        if self.task is not None:
            self.task.report(progress, stage)

    def run(self) -> dict[str, Any]:
        from changebank.analysis.coder import Coder, expected_f1_sets  # heavy: when needed

        started = dt.datetime.now()
        programme = self.programme
        previous = latest_round(programme)

        # 1. how the model in use did on the decisions since the last round, before retraining
        self.report(2, "Comparing the AI's suggestions with the analysts' decisions")
        since = _last_decision(previous)
        window = list(
            CodingDecision.objects.filter(programme=programme, pk__gt=since)
            .order_by("pk")
            .values_list("pk", "ai_codes", "human_codes")
        )
        upto = window[-1][0] if window else since
        found = agreement([(a, h) for _, a, h in window], _labels(programme))
        self.metrics.update(found)
        self.metrics.update(
            first_decision=window[0][0] if window else None,
            last_decision=upto,
            previous_round=previous.number if previous else None,
        )

        # 2. what the analysts have decided
        self.report(10, "Reading the analysts' coding")
        examples: dict[int, list[int]] = {}
        for sid, code_id in (
            CodeAssignment.objects.filter(
                submission__programme=programme, origin=Origin.HUMAN, code__programme=programme
            )
            .order_by("submission_id", "code_id")
            .values_list("submission_id", "code_id")
            .iterator(chunk_size=10_000)
        ):
            examples.setdefault(sid, []).append(code_id)
        counts: dict[int, int] = {}
        for codes in examples.values():
            for c in codes:
                counts[c] = counts.get(c, 0) + 1
        learnable = sorted(c for c, n in counts.items() if n >= MIN_EXAMPLES)
        self.metrics.update(
            n_examples=len(examples),
            n_codes_used=len(counts),
            codes=learnable,
            n_codes=len(learnable),
        )
        if len(learnable) < MIN_CODES:
            short = [c for c, n in counts.items() if n < MIN_EXAMPLES]
            self.metrics.update(
                trained=False,
                skipped=(
                    f"Not retrained: the analysts have given {len(learnable)} "
                    f"code{'' if len(learnable) == 1 else 's'} to {MIN_EXAMPLES} or more "
                    f"submissions, and the model needs at least {MIN_CODES} such codes"
                    + (
                        f" ({len(short)} more code{' has' if len(short) == 1 else 's have'} "
                        "one example)."
                        if short
                        else "."
                    )
                ),
            )
            return self._finish(started, rows=None)

        col = {c: j for j, c in enumerate(learnable)}
        train_ids = sorted(examples)
        info = self._texts(
            Submission.objects.filter(
                Exists(
                    CodeAssignment.objects.filter(submission=OuterRef("pk"), origin=Origin.HUMAN)
                ),
                programme=programme,
            )
        )
        train_ids = [s for s in train_ids if s in info]
        texts = [info[s][0] for s in train_ids]
        questions = [info[s][1] for s in train_ids]
        use_questions = any(questions)
        Y = np.zeros((len(train_ids), len(learnable)), dtype=np.int8)
        for i, sid in enumerate(train_ids):
            for c in examples[sid]:
                if c in col:
                    Y[i, col[c]] = 1
        self.report(
            20,
            f"Training on {len(train_ids):,} coded submissions and {len(learnable):,} codes",
        )
        coder = Coder(embedder="wordllama", decision="expected_f1", objective="f1")
        t0 = dt.datetime.now()
        coder.fit(texts, Y, questions=questions if use_questions else None)
        self.metrics["seconds_training"] = round((dt.datetime.now() - t0).total_seconds(), 2)

        # 3. the new model's codes for every submission nobody has decided
        self.report(55, "Reading the submissions to code")
        todo = self._texts(undecided(programme))
        ids = list(todo)
        self.report(60, f"Coding {len(ids):,} submissions with the new model")
        P = (
            coder.predict_proba(
                [todo[s][0] for s in ids],
                questions=[todo[s][1] for s in ids] if use_questions else None,
            )
            if ids
            else np.zeros((0, len(learnable)))
        )
        chosen = expected_f1_sets(P, coder.max_codes)  # what Coder.predict gives, without P twice
        self.report(75, "Choosing what to code next")
        self.metrics["next"] = self._next(coder, ids, todo, P, chosen, learnable, use_questions)
        self.metrics.update(trained=True, skipped="")
        return self._finish(started, rows=(ids, P, chosen, learnable))

    @staticmethod
    def _texts(qs: QuerySet[Submission]) -> dict[int, tuple[str, str | None]]:
        return {
            pk: (text or "", prompt)
            for pk, text, prompt in qs.order_by("pk")
            .values_list("pk", "text", "question__prompt")
            .iterator(chunk_size=10_000)
        }

    def _next(
        self,
        coder: Any,
        ids: list[int],
        todo: dict[int, tuple[str, str | None]],
        P: np.ndarray,
        chosen: np.ndarray,
        learnable: list[int],
        use_questions: bool,
    ) -> list[dict[str, Any]]:
        """The submissions whose coding would teach the new model most, with why."""
        if not ids:
            return []
        texts = [todo[s][0] for s in ids]
        questions = [todo[s][1] for s in ids] if use_questions else None
        pool = candidates(P, coder.thresholds_, texts, NEXT_SIZE)
        labels = _labels(self.programme, learnable)
        out = []
        for s in coder.suggest_next(
            [texts[i] for i in pool],
            NEXT_SIZE,
            questions=[questions[i] for i in pool] if questions else None,
        ):
            i = int(pool[s.index])
            code = learnable[s.code]
            threshold = float(coder.thresholds_[s.code])
            explain = {}
            for j in dict.fromkeys([int(s.code), *np.flatnonzero(chosen[i])[:3].tolist()]):
                try:
                    explain[str(learnable[j])] = coder.explain(
                        texts[i], j, question=questions[i] if questions else None
                    )
                except Exception:  # an explanation is a nicety, never a failure
                    log.warning("no explanation for code %s", learnable[j], exc_info=True)
            out.append(
                {
                    "submission": ids[i],
                    "code": code,
                    "confidence": round(float(s.confidence), 4),
                    "threshold": round(threshold, 4),
                    "reason": (
                        f"The model is unsure whether ‘{labels.get(code, code)}’ applies: "
                        f"probability {s.confidence:.2f} against a threshold of {threshold:.2f}."
                    ),
                    "explain": explain,
                }
            )
        return out

    def _finish(
        self,
        started: dt.datetime,
        rows: tuple[list[int], np.ndarray, np.ndarray, list[int]] | None,
    ) -> dict[str, Any]:
        """Write the round (and the new codes, if trained) in one transaction."""
        programme = self.programme
        self.report(85, "Saving the new suggestions" if rows else "Saving the round")
        with transaction.atomic():
            number = (
                TrainingRound.objects.filter(programme=programme).aggregate(m=Max("number"))["m"]
                or 0
            ) + 1
            model_name = f"changebank Coder round {number}"
            self.metrics["round"] = number
            if rows is not None:
                t0 = dt.datetime.now()
                self.metrics.update(model=model_name, **self._replace(rows, model_name))
                self.metrics["seconds_writing"] = round((dt.datetime.now() - t0).total_seconds(), 2)
            self.metrics["seconds"] = round((dt.datetime.now() - started).total_seconds(), 2)
            round_ = TrainingRound.objects.create(
                programme=programme,
                number=number,
                task=self.task if self.task is not None and self.task.pk else None,
                n_examples=self.metrics.get("n_examples", 0),
                metrics=self.metrics,
            )
            if rows is not None:
                update_code_sizes(programme)
            f1 = self.metrics.get("sample_f1")
            record(
                "retrain",
                round_,
                after={
                    k: self.metrics.get(k)
                    for k in (
                        "round",
                        "n_examples",
                        "n_compared",
                        "sample_f1",
                        "mean_kappa",
                        "trained",
                        "assignments",
                    )
                },
                note=(
                    f"Training round {number}: "
                    + (
                        f"retrained on {self.metrics['n_examples']:,} coded submissions and "
                        f"recoded {self.metrics.get('submissions_recoded', 0):,}"
                        if rows is not None
                        else self.metrics.get("skipped", "not retrained")
                    )
                    + (
                        f"; the previous model's sample F1 on {self.metrics['n_compared']:,} "
                        f"decisions was {f1:.2f}"
                        if f1 is not None
                        else ""
                    )
                ),
            )
        self.report(100, f"Round {number} saved")
        return {k: v for k, v in self.metrics.items() if k not in ("next", "kappa", "codes")} | {
            "training_round": round_.pk
        }

    def _replace(
        self, rows: tuple[list[int], np.ndarray, np.ndarray, list[int]], model_name: str
    ) -> dict[str, Any]:
        """Replace the AI codes of the submissions still undecided with the new model's.

        Runs inside the round's transaction. The set of undecided submissions is read again here,
        so a decision made while the model trained is kept. A row for the same submission and
        code keeps its key, so undoing an earlier action that restores it cannot collide."""
        programme = self.programme
        ids, P, chosen, learnable = rows
        still = set(undecided(programme).values_list("pk", flat=True).iterator(chunk_size=20_000))
        live = set(Code.objects.filter(pk__in=learnable).values_list("pk", flat=True))
        stale = CodeAssignment.objects.filter(
            submission__programme=programme,
            origin=Origin.AI,
            submission__in=undecided(programme),
        )
        keys = {
            (sid, code): pk
            for pk, sid, code in stale.values_list("pk", "submission_id", "code_id").iterator(
                chunk_size=20_000
            )
        }
        if {r.related_model for r in CodeAssignment._meta.related_objects} <= {CodeSpan}:
            # One DELETE each, not Django's collector, which loads every row first (1 s instead
            # of 8 s for 166,000 rows). Spans first: only they point at assignments.
            CodeSpan.objects.filter(assignment__in=stale)._raw_delete(CodeSpan.objects.db)
            stale._raw_delete(stale.db)
        else:  # pragma: no cover - a model added since that points at assignments
            stale.delete()
        primary = P.argmax(axis=1) if len(ids) else np.zeros(0, dtype=int)
        r, c = np.nonzero(chosen)
        rows_out: list[tuple[int | None, int, int, bool, float, bool]] = []
        for i, j in zip(r.tolist(), c.tolist(), strict=True):
            sid, code = ids[i], learnable[j]
            if sid not in still or code not in live:
                continue
            p = round(float(P[i, j]), 4)
            rows_out.append(
                (keys.get((sid, code)), sid, code, j == int(primary[i]), p, p < REVIEW_BELOW)
            )
        insert_suggestions(rows_out, model_name[:120])
        return {
            "assignments": len(rows_out),
            "submissions_recoded": len({row[1] for row in rows_out}),
            "flagged_for_review": sum(row[5] for row in rows_out),
            "kept_as_decided": len(set(ids) - still),
        }


#: The columns of CodeAssignment that :func:`insert_suggestions` writes itself.
_COLUMNS = {
    "id",
    "submission",
    "code",
    "primary",
    "origin",
    "confidence",
    "needs_review",
    "run",
    "model",
    "decided_by",
    "decided_at",
}


def insert_suggestions(
    rows: Sequence[tuple[int | None, int, int, bool, float, bool]], model_name: str
) -> None:
    """Insert AI code assignments given as ``(pk or None, submission id, code id, primary,
    confidence, needs_review)``.

    A prepared INSERT run over the rows (``executemany``), ten times faster than ``bulk_create``
    on SQLite, where Django's 999-parameter batches spend most of the time building SQL (100,000
    submissions: 2 s against 22 s, all of it inside the round's transaction). Falls back to
    ``bulk_create`` if the model has columns this does not know.
    """
    fields = {f.name: f for f in CodeAssignment._meta.concrete_fields}
    if set(fields) != _COLUMNS:  # pragma: no cover - the model changed: the safe, slower way
        for start in range(0, len(rows), BATCH):
            CodeAssignment.objects.bulk_create(
                CodeAssignment(
                    pk=pk,
                    submission_id=sid,
                    code_id=code,
                    primary=primary,
                    origin=Origin.AI,
                    confidence=p,
                    needs_review=review,
                    model=model_name,
                )
                for pk, sid, code, primary, p, review in rows[start : start + BATCH]
            )
        return
    connection = connections[router.db_for_write(CodeAssignment)]
    quote = connection.ops.quote_name
    now = fields["decided_at"].get_db_prep_save(timezone.now(), connection)
    names = ["submission", "code", "primary", "confidence", "needs_review", "origin", "model"]
    columns = [quote(fields[n].column) for n in [*names, "decided_at"]]
    table = quote(CodeAssignment._meta.db_table)
    with connection.cursor() as cursor:
        for with_pk in (True, False):
            part = [row for row in rows if (row[0] is not None) is with_pk]
            if not part:
                continue
            cols = ([quote(fields["id"].column)] if with_pk else []) + columns
            sql = (
                f"INSERT INTO {table} ({', '.join(cols)}) "  # noqa: S608 (names from the model)  # nosec B608
                f"VALUES ({', '.join(['%s'] * len(cols))})"
            )
            for start in range(0, len(part), BATCH):
                cursor.executemany(
                    sql,
                    [
                        ((pk,) if with_pk else ())
                        + (sid, code, primary, p, review, Origin.AI.value, model_name, now)
                        for pk, sid, code, primary, p, review in part[start : start + BATCH]
                    ],
                )


# --- the "code these next" queue -----------------------------------------------------------------


def next_queue(programme: Programme, limit: int = NEXT_SIZE) -> tuple[list[dict[str, Any]], str]:
    """The undecided submissions worth coding next, most useful first, each as
    ``{"submission", "code", "confidence", "reason", "explain"}``; and how they were chosen:
    ``"model"`` (the latest trained round's uncertainty) or ``"confidence"`` (the lowest
    confidence of the AI's main code, taking codes in turn)."""
    open_ids = undecided(programme)
    for round_ in TrainingRound.objects.filter(programme=programme).order_by("-number"):
        stored = (round_.metrics or {}).get("next")
        if not (round_.metrics or {}).get("trained"):
            continue
        if stored:
            still = set(
                open_ids.filter(pk__in=[item["submission"] for item in stored]).values_list(
                    "pk", flat=True
                )
            )
            items = [item for item in stored if item["submission"] in still][:limit]
            if items:
                return items, "model"
        break  # the latest trained model's queue is used up: fall back to confidence
    per_code = max(1, math.ceil(limit / 5))
    ranked = (
        CodeAssignment.objects.filter(
            code__programme=programme,
            origin=Origin.AI,
            primary=True,
            submission__in=open_ids,
        )
        .exclude(confidence=None)
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("code_id")], order_by=[F("confidence").asc(), "pk"]
            )
        )
        .filter(rank__lte=per_code)
        .order_by("rank", "confidence", "pk")
        .values_list("submission_id", "code_id", "confidence", "code__label")
    )
    items, seen = [], set()
    for sid, code, confidence, label in ranked:
        if sid in seen:
            continue
        seen.add(sid)
        items.append(
            {
                "submission": sid,
                "code": code,
                "confidence": confidence,
                "reason": (
                    f"The analysis is unsure of its main code ‘{label}’ "
                    f"(confidence {confidence:.2f}): one of the least certain in that code."
                ),
                "explain": {},
            }
        )
        if len(items) >= limit:
            break
    return items, "confidence"
