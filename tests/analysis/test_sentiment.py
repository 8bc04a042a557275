"""Sentiment and stance: the bundled model offline, awkward inputs, saving, fitting on real
comments, clear errors, and a hand-written stance sanity set."""

from __future__ import annotations

import csv
import io
import socket

import numpy as np
import pytest

from changebank.analysis.sentiment import (
    STANCES,
    SentimentModel,
    Stance,
    StanceModel,
    question_type,
    stance,
    stance_cues,
)
from tests.conftest import shared

AWKWARD = [
    "",
    "   ",
    "Parking",
    "ok",
    "👍👍 brilliant 🙂",
    "😡",
    "Personal muy amable y atento, gracias",
    "Très bien, merci",
    "非常好的服务",
    "The staff were kind. " * 500,  # about 10,500 characters
    "x" * 10_000,
]

IMPROVE = "How could we improve?"
GOOD = "What was good?"
WHY = "FFT Why?"
BOTH = (
    "Please describe any things about the 111 service that\n"
    "you were particularly satisfied and/or dissatisfied with"
)

# Hand-written, in the style of Friends and Family Test answers and of the "what to keep / what
# should never be repeated" surveys in the seed documents. Written before the stance rules were
# run on them: a sanity check of the rules, not a benchmark.
STANCE_SET = [
    # keep: a benefit to keep, continue, spread or restart
    ("The staff were wonderful, thank you", None, "keep"),
    ("Please keep the video appointments, they save me a two hour round trip.", None, "keep"),
    ("The text reminders for appointments are really helpful, carry on with them.", None, "keep"),
    ("Continue the telephone triage, I was seen the same day.", None, "keep"),
    ("Being able to order repeat prescriptions online has been a real benefit.", None, "keep"),
    ("The nurse listened and explained everything clearly.", GOOD, "keep"),
    ("Retain the evening clinics for people who work.", IMPROVE, "keep"),
    ("Please never stop the home visits, they made all the difference for my mum.", None, "keep"),
    ("Go back to having a named nurse on every shift.", None, "keep"),
    ("Quick response, the paramedics were calm and reassuring.", WHY, "keep"),
    ("Everything", GOOD, "keep"),
    ("The daily huddles have improved team spirit and we should keep them going.", None, "keep"),
    ("Friendly receptionist, clean waiting room, seen on time.", None, "keep"),
    # concern: a problem, something that should never happen again or must not come back
    ("Rude, ignored me for hours, disgusting", None, "concern"),
    (
        "Waiting six hours for an ambulance with a broken hip should never happen again.",
        None,
        "concern",
    ),
    ("The cancelled appointments must not return after the winter.", None, "concern"),
    ("Stop cancelling appointments at the last minute.", IMPROVE, "concern"),
    (
        "Nobody told us what was happening and my dad was left on a trolley all night.",
        None,
        "concern",
    ),
    ("We must not go back to Monday to Friday only services.", None, "concern"),
    ("Never bring back the long discharge assessments.", None, "concern"),
    (
        "The phone line was engaged for two hours and then it cut me off.",
        "What could we do better?",
        "concern",
    ),
    ("Nothing", GOOD, "concern"),
    ("More staff on the ward at night, my buzzer went unanswered.", IMPROVE, "concern"),
    ("The parking is too expensive and there are never any spaces.", None, "concern"),
    ("I was kept waiting for three hours without any update.", None, "concern"),
    ("The way my complaint was handled was unacceptable.", None, "concern"),
    # mixed: both a benefit and a problem
    ("The crew were brilliant but we waited four hours for them to arrive.", None, "mixed"),
    ("Lovely nurses, although the food was cold and the ward was noisy.", None, "mixed"),
    ("Keep the online booking but stop the automated phone menu.", None, "mixed"),
    ("The doctor was kind, however the receptionist was very rude.", None, "mixed"),
    ("Great care once I was seen, but the wait in A&E was far too long.", None, "mixed"),
    ("Satisfied with the call handler, dissatisfied with the wait for a call back.", BOTH, "mixed"),
    ("Video calls are convenient, but I miss seeing my consultant face to face.", None, "mixed"),
    # neutral: no stance
    ("", None, "neutral"),
    ("n/a", None, "neutral"),
    ("Nothing", IMPROVE, "neutral"),
    ("No comment", None, "neutral"),
    ("Did not answer", WHY, "neutral"),
    ("Don't know", None, "neutral"),
    ("See above", None, "neutral"),
    ("None.", "What could we do better?", "neutral"),
    ("Nothing I can think of", IMPROVE, "neutral"),
    ("I came in for a blood test.", WHY, "neutral"),
]


@pytest.fixture(scope="module")
def pretrained():
    return SentimentModel.pretrained()


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def labelled():
    with shared("pxtextmining", "v6framework_train.csv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if (r["Comment sentiment"] or "").strip()]
    rows = rows[:1500]
    texts = [r["FFT answer"] for r in rows]
    questions = [r["FFT question"] for r in rows]
    y = np.array([int(float(r["Comment sentiment"])) for r in rows])
    return texts, questions, y


@pytest.fixture(scope="module")
def small(labelled):
    texts, questions, y = labelled
    return SentimentModel(cv=3).fit(texts[:1200], y[:1200], questions[:1200])


# -- the bundled model ----------------------------------------------------------------------------


def test_pretrained_loads_offline_and_reads_obvious_cases(no_network):
    model = SentimentModel.pretrained()
    assert model.predict(["The staff were wonderful, thank you"])[0] in (1, 2)
    assert model.predict(["Rude, ignored me for hours, disgusting"])[0] in (4, 5)
    P = model.predict_proba(["Excellent care, could not fault it", "Waited 6 hours, appalling"])
    assert P[0, :2].sum() > 0.5 and P[1, 3:].sum() > 0.5


def test_pretrained_uses_the_question(pretrained):
    # "Nothing" answers "What could we do better?" happily and "What was good?" unhappily.
    happy = pretrained.predict(["Nothing"], questions=["What could we do better?"])[0]
    unhappy = pretrained.predict(["Nothing"], questions=["What was good?"])[0]
    assert happy <= 2 and unhappy >= 4


def test_awkward_inputs_give_valid_outputs(pretrained):
    P = pretrained.predict_proba(AWKWARD)
    assert P.shape == (len(AWKWARD), 5)
    assert np.isfinite(P).all() and np.allclose(P.sum(axis=1), 1.0)
    labels = pretrained.predict(AWKWARD, questions="FFT Why?")
    assert labels.dtype.kind == "i" and set(labels.tolist()) <= {1, 2, 3, 4, 5}
    labels, confidence = pretrained.predict_with_confidence(AWKWARD)
    assert ((confidence > 0) & (confidence <= 1)).all()
    assert pretrained.predict([]).shape == (0,)
    assert pretrained.predict_proba([]).shape == (0, 5)
    assert pretrained.predict([None, float("nan")]).shape == (2,)  # missing answers are ""


def test_median_decision_is_ordinal(pretrained):
    texts = ["Good service", "Ok I suppose", "Terrible, waited hours", "Brilliant"]
    P = pretrained.predict_proba(texts)
    median = SentimentModel.pretrained().set_params(decision="median")
    cumulative = np.cumsum(P, axis=1)
    for row, label in zip(cumulative, median.predict(texts), strict=True):
        assert row[label - 1] >= 0.5 - 1e-9 and (label == 1 or row[label - 2] < 0.5)


# -- saving and loading ---------------------------------------------------------------------------


def test_save_load_round_trip_gives_identical_predictions(small, labelled, tmp_path):
    texts, questions, _ = labelled
    sample = texts[1200:] + AWKWARD
    qs = questions[1200:] + [""] * len(AWKWARD)
    path = tmp_path / "sentiment-model"  # no .npz: the path is used as given
    small.save(path)
    loaded = SentimentModel.load(path)
    assert loaded.get_params() == small.get_params()
    # The rebuilt vectorisers give exactly the fitted scikit-learn vectorisers' features.
    for fitted, rebuilt, inputs in zip(
        small.vectorizers_, loaded.vectorizers_, (sample, sample), strict=True
    ):
        a, b = fitted.transform(inputs), rebuilt.transform(inputs)
        assert (a != b).nnz == 0
    assert np.array_equal(small.predict_proba(sample, qs), loaded.predict_proba(sample, qs))
    assert np.array_equal(small.predict(sample, qs), loaded.predict(sample, qs))
    # and through a file object, as the bundled model is read
    buffer = io.BytesIO()
    small.save(buffer)
    buffer.seek(0)
    assert np.array_equal(SentimentModel.load(buffer).predict(sample), small.predict(sample))


def test_saved_file_needs_no_pickle(small, tmp_path):
    path = tmp_path / "m.npz"
    small.save(path)
    with np.load(path, allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


def test_load_rejects_other_files(tmp_path):
    other = tmp_path / "other.npz"
    np.savez(other, a=np.arange(3))
    with pytest.raises(ValueError, match="not a saved SentimentModel"):
        SentimentModel.load(other)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a saved SentimentModel"):
        SentimentModel.load(junk)


# -- fitting on real comments ---------------------------------------------------------------------


def test_fit_on_real_comments_beats_the_majority_class(small, labelled):
    texts, questions, y = labelled
    predicted = small.predict(texts[1200:], questions[1200:])
    majority = np.mean(y[1200:] == np.bincount(y[:1200]).argmax())
    accuracy = np.mean(predicted == y[1200:])
    assert accuracy > majority + 0.1
    assert np.mean(np.abs(predicted - y[1200:])) < 0.8
    assert small.score(texts[1200:], y[1200:], questions[1200:]) == pytest.approx(accuracy)


def test_fit_without_every_class_and_on_tiny_data():
    texts = ["lovely staff", "great care", "awful wait", "rude and slow", "brilliant", "terrible"]
    y = [1, 1, 5, 5, 1, 5]
    model = SentimentModel().fit(texts, y)
    P = model.predict_proba(["great staff", "slow and rude"])
    assert np.allclose(P[:, [1, 2, 3]], 0) and np.allclose(P.sum(axis=1), 1)
    assert model.predict(["great staff", "slow and rude"]).tolist() == [1, 5]


# -- errors ---------------------------------------------------------------------------------------


def test_clear_errors():
    with pytest.raises(ValueError, match="y has 2 values but there are 3 texts"):
        SentimentModel().fit(["a b", "c d", "e f"], [1, 2])
    with pytest.raises(
        ValueError, match=r"from 1 \(very positive\) to 5 \(very negative\); found 0, 6"
    ):
        SentimentModel().fit(["good one", "bad one", "meh one"], [0, 6, 3])
    with pytest.raises(ValueError, match="found 2.5"):
        SentimentModel().fit(["good one", "bad one"], [1, 2.5])
    with pytest.raises(ValueError, match=r"y\[1\] is missing"):
        SentimentModel().fit(["good one", "bad one"], [1, None])
    with pytest.raises(ValueError, match=r"y\[0\] should be a sentiment value"):
        SentimentModel().fit(["good one", "bad one"], ["good", 5])
    with pytest.raises(ValueError, match="at least two different sentiment values"):
        SentimentModel().fit(["good one", "nice one"], [1, 1])
    with pytest.raises(ValueError, match="questions has 1 items but there are 2 texts"):
        SentimentModel().fit(["good one", "bad one"], [1, 5], questions=["Why?"])
    with pytest.raises(ValueError, match="not fitted yet"):
        SentimentModel().predict(["hello"])
    with pytest.raises(ValueError, match="decision should be"):
        SentimentModel(decision="mode").fit(["good one", "bad one"], [1, 5])
    with pytest.raises(TypeError, match="not one string"):
        SentimentModel().fit("good one", [1])


def test_prediction_errors(pretrained):
    with pytest.raises(ValueError, match="questions has 3 items but there are 1 texts"):
        pretrained.predict(["fine"], questions=["a", "b", "c"])
    with pytest.raises(TypeError, match=r"texts\[1\] should be a string"):
        pretrained.predict(["fine", 3])
    with pytest.raises(ValueError, match="y should hold stances"):
        StanceModel(sentiment=pretrained).fit(["fine"], ["happy"])


# -- questions and cues ---------------------------------------------------------------------------


def test_question_types():
    assert question_type("What was good?") == "good"
    assert question_type("What should we keep?") == "good"
    assert question_type("How could we improve?") == "improve"
    assert question_type("What could we do better?") == "improve"
    assert question_type("What should never happen again?") == "improve"
    assert question_type(BOTH) == "both"
    assert question_type("FFT Why?") == "why"
    assert question_type("") == "" and question_type(None) == ""


def test_stance_cues_and_negation():
    assert stance_cues("Please keep the video clinics") == (["keep"], [])
    assert stance_cues("Please never stop the home visits") == (["not stop"], [])
    assert stance_cues("We must not go back to paper forms")[1]
    assert stance_cues("Never bring back face to face appts unless necessary")[1]
    assert stance_cues("I was kept waiting and they keep me waiting every time") == ([], [])
    assert stance_cues("This should never happen again") == ([], ["never again"])
    assert stance_cues("Waited at the bus stop") == ([], [])
    assert stance_cues("Keep up the good work") == (["keep up the good work"], [])
    assert stance_cues("The staff couldn't keep up with demand") == ([], ["not keep"])
    assert stance_cues("The old referral forms should be scrapped") == ([], ["scrap"])


# -- stance ---------------------------------------------------------------------------------------


def test_stance_sanity_set(pretrained):
    model = StanceModel(sentiment=pretrained)
    texts = [t for t, _, _ in STANCE_SET]
    questions = [q or "" for _, q, _ in STANCE_SET]
    expected = np.array([s for _, _, s in STANCE_SET])
    labels, confidence = model.predict_with_confidence(texts, questions)
    wrong = [
        f"{t!r} ({q}): expected {e}, got {p} ({c:.2f})"
        for (t, q, e), p, c in zip(STANCE_SET, labels, confidence, strict=True)
        if p != e
    ]
    accuracy = float(np.mean(labels == expected))
    print(f"stance sanity set: {accuracy:.3f} of {len(STANCE_SET)}", *wrong, sep="\n  ")
    assert accuracy >= 0.85, wrong
    # every stance is reached, and the non-answers are confidently neutral
    assert set(labels) == set(STANCES)
    assert model.score(texts, expected, questions) == pytest.approx(accuracy)


def test_stance_outputs_on_awkward_inputs(pretrained):
    model = StanceModel(sentiment=pretrained).fit()
    P = model.predict_proba(AWKWARD)
    assert P.shape == (len(AWKWARD), 4) and np.allclose(P.sum(axis=1), 1)
    labels, confidence = model.predict_with_confidence(AWKWARD, questions="What was good?")
    assert set(labels.tolist()) <= set(STANCES)
    assert ((confidence >= 0.25) & (confidence <= 1)).all()
    assert labels[0] == "neutral" and labels[1] == "neutral"
    assert model.predict([]).shape == (0,)
    results = model.assess(["Please keep the video clinics, they are a real benefit", ""])
    assert all(isinstance(r, Stance) for r in results)
    assert results[0].stance == "keep" and "keep cues" in results[0].reason
    assert results[1] == Stance("neutral", results[1].confidence, "no answer")


def test_stance_function_uses_the_bundled_model():
    results = stance(["Please keep the video appointments", "n/a"], questions=None)
    assert [r.stance for r in results] == ["keep", "neutral"]
    assert all(0 < r.confidence <= 1 for r in results)
