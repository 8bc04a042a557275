"""Analysing a programme: the background task that turns submissions into codes, themes, distinct
changes, sentiment and stance, keeping every human decision.

What a re-run keeps: codes an analyst created, renamed, merged or accepted (``origin=human`` or
``status=accepted``), their themes, every human code assignment (a submission an analyst coded is
not recoded by the AI), human sentiment and stance. What it replaces: AI suggestions nobody has
reviewed. An AI code found again whose centre is within ``SAME_CODE_COSINE`` of a kept human code
is not suggested twice: its submissions go to the human code.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q

import changebank
from changebank.analysis import DistinctChanges, ThemeModel
from changebank.analysis.embed import CachedEmbedder, get_embedder
from changebank.core.audit import acting_as, record
from changebank.core.models import Task
from changebank.core.tasks import PermanentError, enqueue, task
from changebank.listen.models import Programme, Submission

from .models import (
    AnalysisRun,
    Code,
    CodeAssignment,
    DistinctChange,
    Origin,
    SubmissionReading,
    Theme,
)

SAME_CODE_COSINE = 0.92
BATCH = 5_000
EMBEDDER = "minilm"


def start_analysis(
    programme: Programme, user: Any = None, *, background: bool = True, **options: Any
) -> AnalysisRun:
    """Queue an analysis of ``programme``; returns its run, whose task shows progress.

    With ``background=False`` nothing starts it: the caller runs it (see :func:`analyse_now`).
    """
    with transaction.atomic():
        run = AnalysisRun.objects.create(programme=programme, settings=options)
        run.task = enqueue("understand.analyse", created_by=user, start=background, run_id=run.pk)
        run.save(update_fields=["task"])
    return run


def analyse_now(programme: Programme, user: Any = None, **options: Any) -> Task:
    """Analyse ``programme`` in this thread (commands, the demo, tests); returns the finished task."""
    from changebank.core.tasks import claim, run

    analysis = start_analysis(programme, user, background=False, **options)
    row = claim(analysis.task_id)
    if row is None:
        raise RuntimeError("the analysis task was taken by a worker process")
    return run(row)


def latest_run(programme: Programme) -> AnalysisRun | None:
    return programme.analysis_runs.select_related("task").first()


def embedding_cache() -> Path:
    return Path(settings.CHANGEBANK_DATA_DIR) / "embeddings.sqlite"


def _embedder(name: str) -> Any:
    return CachedEmbedder(get_embedder(name), path=embedding_cache())


@task("understand.analyse")
def analyse(row: Task, run_id: int) -> dict[str, Any]:
    """The task: analyse the run's programme."""
    run = AnalysisRun.objects.select_related("programme").get(pk=run_id)
    with acting_as(row.created_by, label=None if row.created_by else "analysis"):
        return Analysis(run, row).run()


class Analysis:
    """One analysis run, step by step."""

    def __init__(self, run: AnalysisRun, row: Task | None = None) -> None:
        self.run_row = run
        self.task = row
        self.programme = run.programme
        self.options = run.settings or {}
        self.summary: dict[str, Any] = {}

    def report(self, progress: int, stage: str) -> None:
        if self.task is not None:
            self.task.report(progress, stage)

    def run(self) -> dict[str, Any]:
        started = dt.datetime.now()
        self.report(2, "Reading submissions")
        subs = list(
            Submission.objects.filter(
                programme=self.programme, moderation_status=Submission.Moderation.APPROVED
            )
            .order_by("id")
            .values_list("id", "text")
        )
        if not subs:
            raise PermanentError(f"programme '{self.programme.slug}' has no submissions to analyse")
        ids = np.array([s[0] for s in subs], dtype=np.int64)
        texts = [s[1] for s in subs]

        embedder = _embedder(self.options.get("embedder", EMBEDDER))
        self.report(5, f"Finding codes in {len(texts):,} submissions ({embedder.name})")
        model = ThemeModel(
            embedder=embedder,
            n_codes=self.options.get("n_codes"),
            random_state=int(self.options.get("random_state", 0)),
        ).fit(texts)
        self.report(55, f"Found {model.n_codes_} codes in {len(model.themes_)} themes; saving them")
        model_name = f"changebank {changebank.__version__} ThemeModel, {embedder.name}"
        self.run_row.models_used = {
            "codes": model_name,
            "embedder": embedder.name,
            "resolution": model.resolution_,
            "stability": {str(k): v for k, v in (model.stability_ or {}).items()},
        }
        self.report(60, "Grouping distinct changes")
        found = self._distinct(model, texts)
        self.report(75, "Reading sentiment and stance")
        readings = self._read(ids, texts)
        self.report(90, "Saving the results")
        # everything is written in one transaction: a failure leaves the last results in place
        with transaction.atomic():
            code_rows = self._save_codes(model, model_name)
            self._save_assignments(model, ids, code_rows, model_name)
            self._save_distinct_changes(model, ids, texts, code_rows, found)
            self._save_readings(ids, texts, readings)
        self.summary.update(
            submissions=len(texts),
            codes=self.programme.codes.count(),
            themes=self.programme.themes.count(),
            seconds=round((dt.datetime.now() - started).total_seconds(), 1),
        )
        self.run_row.summary = self.summary
        self.run_row.save(update_fields=["models_used", "summary"])
        record(
            "analyse",
            self.run_row,
            after=self.summary,
            note=f"Analysed {len(texts):,} submissions with {model_name}",
        )
        return self.summary

    # -- codes and themes ------------------------------------------------------------------

    def _save_codes(self, model: ThemeModel, model_name: str) -> dict[int, Code]:
        """Replace unreviewed AI codes and themes; map the model's codes to rows."""
        programme = self.programme
        # analysts' codes, accepted codes, and codes analysts used in their own coding stay
        used = CodeAssignment.objects.filter(code__programme=programme, origin=Origin.HUMAN).values(
            "code"
        )
        human = Q(origin=Origin.HUMAN) | Q(status=Code.Status.ACCEPTED) | Q(pk__in=used)
        stale = programme.codes.exclude(human)
        self.summary["ai_codes_replaced"] = stale.count()
        stale.delete()
        programme.themes.filter(origin=Origin.AI).annotate(n=Count("codes")).filter(n=0).delete()
        kept = list(programme.codes.filter(human))
        kept_vectors = [
            (c, np.frombuffer(bytes(c.centroid), dtype=np.float32))
            for c in kept
            if c.centroid and len(bytes(c.centroid)) == model.centroids_.shape[1] * 4
        ]
        themes = []
        for t, theme in enumerate(model.themes_):
            themes.append(
                Theme(
                    programme=programme,
                    label=theme.label,
                    keywords=theme.keywords,
                    origin=Origin.AI,
                    run=self.run_row,
                    position=t,
                )
            )
        Theme.objects.bulk_create(themes)
        rows: dict[int, Code] = {}
        new_codes = []
        reused = 0
        for c, code in enumerate(model.codes_):
            vector = model.centroids_[c].astype(np.float32)
            match = None
            if kept_vectors and code.label != "No comment given":
                sims = [float(vector @ v) for _, v in kept_vectors]
                best = int(np.argmax(sims))
                if sims[best] >= SAME_CODE_COSINE:
                    match = kept_vectors[best][0]
            if match is None and c == model.empty_code_:
                match = next((k for k in kept if k.is_empty_answer), None)
            if match is not None:
                rows[c] = match
                reused += 1
                continue
            row = Code(
                programme=programme,
                theme=themes[code.theme],
                label=code.label[:200],
                description=code.description,
                keywords=code.keywords,
                quotes=code.quotes,
                origin=Origin.AI,
                is_empty_answer=c == model.empty_code_,
                run=self.run_row,
                model=model_name[:120],
                centroid=vector.tobytes(),
                position=c,
            )
            new_codes.append(row)
            rows[c] = row
        Code.objects.bulk_create(new_codes)
        Theme.objects.filter(run=self.run_row).annotate(n=Count("codes")).filter(n=0).delete()
        self.summary["ai_codes_suggested"] = len(new_codes)
        self.summary["codes_matched_to_human_codes"] = reused
        return rows

    def _save_assignments(
        self, model: ThemeModel, ids: np.ndarray, rows: dict[int, Code], model_name: str
    ) -> None:
        """AI codes for every submission no analyst has coded."""
        CodeAssignment.objects.filter(
            submission__programme=self.programme, origin=Origin.AI
        ).delete()
        decided = set(
            CodeAssignment.objects.filter(
                submission__programme=self.programme, origin=Origin.HUMAN
            ).values_list("submission_id", flat=True)
        )
        M = model.memberships_.tocsr()
        batch: list[CodeAssignment] = []
        added = 0
        for i, sid in enumerate(ids.tolist()):
            if sid in decided:
                continue
            primary = int(model.labels_[i])
            conf = float(model.confidence_[i])
            seen = set()
            for c in [primary, *M.indices[M.indptr[i] : M.indptr[i + 1]].tolist()]:
                code = rows[int(c)]
                if code.pk in seen:
                    continue
                seen.add(code.pk)
                is_primary = c == primary
                batch.append(
                    CodeAssignment(
                        submission_id=sid,
                        code=code,
                        primary=is_primary,
                        origin=Origin.AI,
                        confidence=round(conf, 4) if is_primary else None,
                        needs_review=bool(is_primary and conf < model.review_threshold),
                        run=self.run_row,
                        model=model_name[:120],
                    )
                )
            if len(batch) >= BATCH:
                CodeAssignment.objects.bulk_create(batch)
                added += len(batch)
                batch = []
        CodeAssignment.objects.bulk_create(batch)
        added += len(batch)
        update_code_sizes(self.programme)
        self.summary["assignments"] = added
        self.summary["submissions_kept_as_coded_by_analysts"] = len(decided)
        self.summary["flagged_for_review"] = int(model.needs_review_.sum())

    # -- distinct changes ------------------------------------------------------------------

    @staticmethod
    def _distinct(model: ThemeModel, texts: list[str]) -> DistinctChanges:
        embeddings = None
        if len(model.sample_index_) == sum(1 for t in texts if t.strip()):
            embeddings = np.zeros((len(texts), model.embeddings_.shape[1]), np.float32)
            embeddings[model.sample_index_] = model.embeddings_
        return DistinctChanges().fit(texts, embeddings=embeddings, blocks=model.labels_)

    def _save_distinct_changes(
        self,
        model: ThemeModel,
        ids: np.ndarray,
        texts: list[str],
        rows: dict[int, Code],
        found: DistinctChanges,
    ) -> None:
        self.programme.distinct_changes.filter(origin=Origin.AI).delete()
        changes = []
        for g, members in enumerate(found.groups_):
            rep = int(found.representatives_[g])
            changes.append(
                DistinctChange(
                    programme=self.programme,
                    run=self.run_row,
                    text=texts[rep],
                    count=len(members),
                    code=rows[int(model.labels_[rep])],
                    origin=Origin.AI,
                )
            )
        DistinctChange.objects.bulk_create(changes, batch_size=BATCH)
        Through = DistinctChange.members.through
        links = [
            Through(distinctchange_id=change.pk, submission_id=int(ids[i]))
            for change, members in zip(changes, found.groups_, strict=True)
            for i in members
        ]
        Through.objects.bulk_create(links, batch_size=BATCH)
        self.summary["distinct_changes"] = len(changes)
        self.summary["repeated_changes"] = sum(1 for m in found.groups_ if len(m) > 1)

    # -- sentiment and stance --------------------------------------------------------------

    def _read(self, ids: np.ndarray, texts: list[str]) -> dict[str, Any]:
        """Sentiment and stance of every text (computed before anything is written)."""
        from changebank.analysis.sentiment import SentimentModel, StanceModel

        questions = dict(
            Submission.objects.filter(programme=self.programme)
            .exclude(question=None)
            .values_list("id", "question__prompt")
            .iterator(chunk_size=10_000)
        )
        q = [questions.get(int(i), "") for i in ids]
        sentiment = SentimentModel.pretrained()
        proba = sentiment.predict_proba(texts, questions=q)
        stances, stance_conf = StanceModel(sentiment=sentiment).predict_with_confidence(
            texts, questions=q
        )
        return {
            "model": f"changebank {changebank.__version__} {type(sentiment).__name__}",
            "scale": np.asarray(sentiment.classes_),
            "proba": proba,
            "best": proba.argmax(axis=1),
            "stances": stances,
            "stance_conf": stance_conf,
        }

    def _save_readings(self, ids: np.ndarray, texts: list[str], readings: dict[str, Any]) -> None:
        proba, best, scale = readings["proba"], readings["best"], readings["scale"]
        stances, stance_conf, model_name = (
            readings["stances"],
            readings["stance_conf"],
            readings["model"],
        )
        human = set(
            SubmissionReading.objects.filter(
                submission__programme=self.programme, origin=Origin.HUMAN
            ).values_list("submission_id", flat=True)
        )
        SubmissionReading.objects.filter(
            submission__programme=self.programme, origin=Origin.AI
        ).delete()
        rows = [
            SubmissionReading(
                submission_id=int(sid),
                sentiment=int(scale[best[i]]) if texts[i].strip() else None,
                sentiment_confidence=round(float(proba[i, best[i]]), 4),
                stance=str(stances[i]),
                stance_confidence=round(float(stance_conf[i]), 4),
                origin=Origin.AI,
                run=self.run_row,
                model=model_name,
            )
            for i, sid in enumerate(ids.tolist())
            if sid not in human
        ]
        SubmissionReading.objects.bulk_create(rows, batch_size=BATCH)
        self.summary["readings"] = len(rows)


def update_code_sizes(programme: Programme) -> None:
    """Store each code's number of submissions (primary or not)."""
    counts = dict(
        CodeAssignment.objects.filter(code__programme=programme)
        .values("code")
        .annotate(n=Count("submission", distinct=True))
        .values_list("code", "n")
    )
    codes = list(programme.codes.all())
    for code in codes:
        code.size = counts.get(code.pk, 0)
    Code.objects.bulk_update(codes, ["size"], batch_size=BATCH)
