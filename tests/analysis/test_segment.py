"""Segmenting texts into the ideas they hold."""

from changebank.analysis.segment import segment, segment_all


def test_sentences_contrasts_and_bullets():
    assert segment("Staff were lovely but the wait was too long.") == [
        "Staff were lovely",
        "the wait was too long.",
    ]
    assert segment("- video calls\n- text reminders for appointments\n") == [
        "video calls",
        "text reminders for appointments",
    ]
    assert segment("Good. Very good service! Parking was difficult.") == [
        "Good. Very good service!",
        "Parking was difficult.",
    ]


def test_awkward_texts():
    assert segment("") == [] and segment("   ") == []
    assert segment("ok") == ["ok"]
    assert segment("👍🙂") == ["👍🙂"]
    assert segment("Personal muy amable. Buen servicio.") == [
        "Personal muy amable.",
        "Buen servicio.",
    ]
    long = segment("word " * 2000)
    assert all(len(s) <= 600 for s in long) and sum(len(s.split()) for s in long) == 2000


def test_segment_all_keeps_owners():
    segments, owners = segment_all(["A good thing. A bad thing here.", "", "Fine"])
    assert owners == [0, 0, 2] and len(segments) == 3
