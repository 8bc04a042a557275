"""Opinion groups as Pol.is: real conversations against Pol.is's own groups, hand-worked statistics,
input checks and edge cases."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from changebank.analysis.consensus import opinion_groups as reexported
from changebank.analysis.opinion import (
    OpinionGroups,
    _clojure_map_order,
    group_informed_consensus,
    opinion_groups,
    prop_test,
    two_prop_test,
)
from tests.conftest import shared

BIG = ("15-per-hour-seattle", "brexit-consensus", "scoop-hivemind.biodiversity")
ALL = (*BIG, "london.youth.policing")


# --- real conversations ----------------------------------------------------------------------------


@cache
def _conversation(conv: str) -> tuple[pd.DataFrame, list, pd.DataFrame]:
    """Votes in time order (voter_id, statement_id, vote), moderated-out ids, participants table."""
    raw = pd.read_csv(shared("polis", conv, "votes.csv")).sort_values("timestamp", kind="stable")
    votes = raw.rename(columns={"voter-id": "voter_id", "comment-id": "statement_id"})
    comments = pd.read_csv(shared("polis", conv, "comments.csv"))
    moderated_out = comments.loc[comments["moderated"] == -1, "comment-id"].tolist()
    participants = pd.read_csv(shared("polis", conv, "participants-votes.csv"))
    return votes[["voter_id", "statement_id", "vote"]], moderated_out, participants


@cache
def _fitted(conv: str) -> OpinionGroups:
    votes, moderated_out, _ = _conversation(conv)
    return OpinionGroups(exclude_statements=moderated_out).fit(votes)


def _polis_groups(conv: str) -> pd.Series:
    participants = _conversation(conv)[2]
    return participants.set_index("participant")["group-id"].dropna().astype(int)


@pytest.mark.parametrize("conv", ALL)
def test_latest_votes_match_participants_votes_csv(conv):
    votes, _, participants = _conversation(conv)
    latest = votes.drop_duplicates(["voter_id", "statement_id"], keep="last")
    ours = latest.pivot(index="voter_id", columns="statement_id", values="vote")
    theirs = participants.set_index("participant")[[str(c) for c in ours.columns]]
    theirs.columns = ours.columns
    theirs = theirs.loc[ours.index]
    assert ours.shape[0] == participants.shape[0]
    assert ((ours == theirs) | (ours.isna() & theirs.isna())).all().all()


# One fit is Pol.is's own computation from scratch (test_fit_is_polis_cold_start below), but the
# group-id column of the open data is Pol.is's production state, built by warm-started updates over
# the conversation's life (participants who joined the clustering early stay in it; base clusters
# split as people arrive) and with "meta" statements left out that the export does not mark. On
# these two the fit settles on another local optimum of the group k-means (Seattle: same k, another
# 2-way split; Brexit: k = 3 wins the silhouette where Pol.is has 2; if its demographic statements
# were meta, k = 2 and ARI 0.917, see test_brexit_with_demographic_statements_as_meta). See
# docs/research/polis-reproduction.md. Kept strict, so the day they pass the marker must go.
SNAPSHOT_GAP = {
    "15-per-hour-seattle": "Pol.is's production history ended on another 2-means optimum than "
    "its cold start",
    "brexit-consensus": "one fit picks k = 3 by silhouette; Pol.is's production state has 2",
}


@pytest.mark.parametrize(
    "conv",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=SNAPSHOT_GAP[c]))
        if c in SNAPSHOT_GAP
        else c
        for c in BIG
    ],
)
def test_groups_agree_with_polis(conv):
    model = _fitted(conv)
    polis = _polis_groups(conv)
    common = [p for p in polis.index if p in model.groups_]
    assert len(common) >= 0.95 * len(polis)
    ari = adjusted_rand_score(polis.loc[common], [model.groups_[p] for p in common])
    assert ari >= 0.9, f"ARI {ari:.3f}"
    assert model.n_groups_ == polis.nunique()


# Pol.is's Clojure maths run from scratch on the Scoop conversation, as published in
# compdemocracy/polis: delphi/real_data/r4tykwac8thvzv35jrn53-biodiversity/
# r4tykwac8thvzv35jrn53_math_blob_cold_start.json (commit 1766bc7284191f12a14f20e29ca86d8fa1ed7c82):
# its two groups as base-cluster ids, the group centres, and the repness record of statement 61.
POLIS_COLD_START_GROUP_0 = {
    0,
    7,
    18,
    19,
    22,
    27,
    43,
    48,
    66,
    68,
    69,
    71,
    72,
    74,
    78,
    79,
    84,
    85,
    97,
}
POLIS_COLD_START_CENTERS = [
    [6.0180385908001925, 1.341365248405571],
    [-1.5134837235300211, -0.2621766519802954],
]


def test_fit_is_polis_cold_start():
    """Same input as Pol.is's own from-scratch run (votes in the export's ORDER BY tid, pid,
    created; no moderation or meta exclusions, the blob has none): same answer, to the last digit
    that matters. The second axis comes out with the opposite sign (a PCA sign convention)."""
    votes = pd.read_csv(shared("polis", "scoop-hivemind.biodiversity", "votes.csv"))
    votes = votes.rename(columns={"voter-id": "voter_id", "comment-id": "statement_id"})
    votes = votes.sort_values(["statement_id", "voter_id", "timestamp"], kind="stable")
    model = OpinionGroups().fit(votes[["voter_id", "statement_id", "vote"]])
    assert len(model.base_clusters_) == 100
    groups = model.group_clusterings_[model.n_groups_]
    assert [set(g.members) for g in groups] == [
        POLIS_COLD_START_GROUP_0,
        set(range(100)) - POLIS_COLD_START_GROUP_0,
    ]
    for group, center in zip(groups, POLIS_COLD_START_CENTERS, strict=True):
        np.testing.assert_allclose(np.abs(group.center), np.abs(center), rtol=0, atol=1e-7)
    row = model.repness_.query("group == 0 and statement_id == 61").iloc[0]
    assert (row["n_agree"], row["n_votes"]) == (55, 77)
    assert row["ra"] == pytest.approx(3.294889826535396, abs=1e-9)
    assert row["rat"] == pytest.approx(8.197642, abs=1e-5)  # Pol.is rounds this one to a float
    assert row["pat"] == pytest.approx(3.849741916091626, abs=1e-9)


def test_london_with_demographic_statements_as_meta():
    """Pol.is leaves "meta" statements out of the maths like moderated-out ones
    (conversation/mod-update), and the export has no is_meta column. If London's owner-written
    demographic statements were meta, one fit reproduces Pol.is's three groups exactly; with them
    in, it finds two groups unrelated to Pol.is's (ARI about 0)."""
    votes, moderated_out, _ = _conversation("london.youth.policing")
    meta = [1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    model = OpinionGroups(exclude_statements=moderated_out + meta).fit(votes)
    polis = _polis_groups("london.youth.policing")
    assert set(model.groups_) == set(polis.index)
    ari = adjusted_rand_score(polis, [model.groups_[p] for p in polis.index])
    assert ari == pytest.approx(1.0)
    assert adjusted_rand_score(polis, _fitted("london.youth.policing").predict(polis.index)) < 0.1


def test_brexit_with_demographic_statements_as_meta():
    """The same hypothesis for Brexit (statements on how the participant voted, their class and
    languages): k = 2 as in Pol.is and ARI above 0.9. A hypothesis only: nothing in the export says
    which statements were meta, so the strict xfail above stays."""
    votes, moderated_out, _ = _conversation("brexit-consensus")
    model = OpinionGroups(exclude_statements=moderated_out + [0, 1, 10, 11, 15]).fit(votes)
    polis = _polis_groups("brexit-consensus")
    common = [p for p in polis.index if p in model.groups_]
    assert model.n_groups_ == 2
    assert adjusted_rand_score(polis.loc[common], [model.groups_[p] for p in common]) > 0.9


def _moved_to_nearest_mean(projection: pd.DataFrame, polis: pd.Series) -> float:
    """Share of Pol.is-grouped participants whose nearest Pol.is group mean, in our projection, is
    another group's: 0 when Pol.is's groups are exactly what one k-means step would keep."""
    xy = projection.loc[polis.index].to_numpy()
    labels = polis.to_numpy()
    groups = np.unique(labels)
    means = np.array([xy[labels == g].mean(axis=0) for g in groups])
    nearest = groups[((xy[:, None, :] - means[None]) ** 2).sum(axis=2).argmin(axis=1)]
    return float((nearest != labels).mean())


@pytest.mark.parametrize("conv", BIG)
def test_projection_reproduces_polis_space(conv):
    """Pol.is's groups sit almost exactly where k-means would keep them in our projection. Not
    exactly: Pol.is groups whole base clusters, so a few people near the boundary are on the other
    side of the nearest-mean line (Brexit: 6 of 197, among them low-vote participants Pol.is
    clustered earlier in the conversation)."""
    assert _moved_to_nearest_mean(_fitted(conv).projection_, _polis_groups(conv)) <= 0.05


@pytest.mark.parametrize("conv", ["15-per-hour-seattle", "scoop-hivemind.biodiversity"])
def test_excluding_moderated_statements_is_what_polis_does(conv):
    """With the moderated-out statements zeroed, Pol.is's groups fit our projection far better
    than with those statements kept as ordinary votes (23 of 54 and 162 of 316 are moderated out)."""
    votes, _, _ = _conversation(conv)
    kept = OpinionGroups().fit(votes)
    polis = _polis_groups(conv)
    zeroed = _moved_to_nearest_mean(_fitted(conv).projection_, polis)
    assert zeroed < 0.5 * _moved_to_nearest_mean(kept.projection_, polis)


@pytest.mark.parametrize("conv", BIG)
def test_clustered_participants_are_those_polis_clustered(conv):
    model = _fitted(conv)
    polis = set(_polis_groups(conv).index)
    ours = set(model.clustered_)
    assert ours <= polis  # Pol.is also keeps people who qualified earlier in the conversation
    assert len(ours) >= 0.95 * len(polis)
    if conv == "15-per-hour-seattle":
        assert ours == polis


def test_random_state_gives_the_same_answer_and_the_same_projection():
    votes, moderated_out, _ = _conversation("scoop-hivemind.biodiversity")
    a = OpinionGroups(exclude_statements=moderated_out, random_state=0).fit(votes)
    b = OpinionGroups(exclude_statements=moderated_out, random_state=0).fit(votes)
    c = OpinionGroups(exclude_statements=moderated_out, random_state=7).fit(votes)
    assert a.groups_ == b.groups_
    pd.testing.assert_frame_equal(a.projection_, b.projection_)
    # the power iteration converges, so another start vector changes nothing that matters
    assert a.groups_ == c.groups_
    np.testing.assert_allclose(a.projection_, c.projection_, atol=1e-6)


def test_opinion_groups_wrapper_and_reexport():
    votes, moderated_out, _ = _conversation("brexit-consensus")
    groups = opinion_groups(votes, exclude_statements=moderated_out)
    assert groups == _fitted("brexit-consensus").groups_
    assert reexported is opinion_groups


# --- hand-worked statistics -------------------------------------------------------------------------


def test_prop_test_by_hand():
    # 3 agrees of 4 votes: 2 * sqrt(5) * (4/5 - 1/2)
    assert prop_test(3, 4) == pytest.approx(2 * math.sqrt(5) * 0.3)
    np.testing.assert_allclose(
        prop_test(np.array([3, 0]), np.array([4, 4])), [1.3416408, -1.3416408]
    )


def test_prop_test_of_nothing_is_one():
    # no votes: (0 + 1) / (0 + 1) = 1, so 2 * sqrt(1) * (1 - 1/2) = 1 (Pol.is's pseudocounts)
    assert prop_test(0, 0) == pytest.approx(1.0)


def test_two_prop_test_by_hand():
    # 3 of 4 inside, 1 of 6 outside; +1 each: 4/5 against 2/7, pooled 6/12
    expected = (4 / 5 - 2 / 7) / math.sqrt(0.5 * 0.5 * (1 / 5 + 1 / 7))
    assert two_prop_test(3, 1, 4, 6) == pytest.approx(expected)
    assert expected == pytest.approx(1.756620, abs=1e-6)
    assert two_prop_test(4, 4, 4, 4) == 0.0  # pooled proportion 1: Pol.is returns 0


def test_group_informed_consensus_by_hand():
    # group 1: 3 agrees of 4 votes, group 2: 1 of 6 -> (4/6) * (2/8)
    assert group_informed_consensus([3, 1], [4, 6]) == pytest.approx(4 / 6 * 2 / 8)
    np.testing.assert_allclose(
        group_informed_consensus([[3, 0], [1, 6]], [[4, 4], [6, 6]]),
        [4 / 6 * 2 / 8, 1 / 6 * 7 / 8],
    )
    with pytest.raises(ValueError, match="between 0 and the number of votes"):
        group_informed_consensus([5], [4])
    with pytest.raises(ValueError, match="shape"):
        group_informed_consensus([1, 2], [3])


def _two_camps(pass_first: bool = True) -> pd.DataFrame:
    """20 voters on 10 statements: a0…a9 agree with 0–4 and disagree with 5–9, b0…b9 the
    opposite; a0 passes on statement 0 instead of agreeing."""
    rows = []
    for camp, sign in (("a", 1), ("b", -1)):
        for i in range(10):
            for s in range(10):
                vote = sign if s < 5 else -sign
                if pass_first and camp == "a" and i == 0 and s == 0:
                    vote = 0
                rows.append((f"{camp}{i}", s, vote))
    return pd.DataFrame(rows, columns=["voter_id", "statement_id", "vote"])


def test_repness_and_consensus_by_hand_on_two_camps():
    model = OpinionGroups().fit(_two_camps())
    assert model.n_groups_ == 2
    ga, gb = model.groups_["a0"], model.groups_["b0"]
    assert {model.groups_[f"a{i}"] for i in range(10)} == {ga} != {gb}
    assert {model.groups_[f"b{i}"] for i in range(10)} == {gb}

    rep = model.repness_.set_index(["group", "statement_id"])
    row = rep.loc[(ga, 0)]
    # group a on statement 0: 9 agrees, 0 disagrees, 10 votes (a pass counts as seen); the rest
    # (group b): 0 agrees, 10 disagrees, 10 votes
    assert (row.n_agree, row.n_disagree, row.n_votes) == (9, 0, 10)
    assert row.pa == pytest.approx(10 / 12)
    assert row.pd == pytest.approx(1 / 12)
    assert row.pat == pytest.approx(2 * math.sqrt(11) * (10 / 11 - 0.5))
    assert row.ra == pytest.approx((10 / 12) / (1 / 12))
    assert row.rat == pytest.approx((10 / 11 - 1 / 11) / math.sqrt(0.5 * 0.5 * (2 / 11)))
    assert row.rd == pytest.approx((1 / 12) / (11 / 12))
    assert row.repful_for == "agree" and row.significant

    cons = model.consensus_
    assert cons.loc[0, "agree"] == pytest.approx((10 / 12) * (1 / 12))
    assert cons.loc[0, "disagree"] == pytest.approx((1 / 12) * (11 / 12))
    assert cons.loc[1, "agree"] == pytest.approx((11 / 12) * (1 / 12))

    # Pol.is's choice for group a: its best-agree statement first, at most 5, agrees first
    chosen = model.representative_[ga]
    assert 1 <= len(chosen) <= 5
    assert chosen[0].best_agree and chosen[0].repful_for == "agree"
    sides = [s.repful_for for s in chosen]
    assert sides == sorted(sides)  # "agree" < "disagree": agrees before disagrees
    assert all(s.significant for s in chosen)
    for s in chosen:  # the chosen side is the one with the larger two-proportion z
        assert s.repness_test == max(s.rat, s.rdt)
        assert s.metric == pytest.approx(s.repness * s.repness_test * s.p_success * s.p_test)


# --- input checks -----------------------------------------------------------------------------------


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match=r"missing column\(s\) \['vote'\]"):
        OpinionGroups().fit(pd.DataFrame({"voter_id": [1], "statement_id": [1]}))
    with pytest.raises(TypeError, match="pandas DataFrame"):
        OpinionGroups().fit([{"voter_id": 1, "statement_id": 1, "vote": 1}])
    with pytest.raises(ValueError, match="no rows"):
        OpinionGroups().fit(pd.DataFrame(columns=["voter_id", "statement_id", "vote"]))


@pytest.mark.parametrize("bad", [2, "agree", np.nan, -5, 0.5])
def test_bad_vote_values_are_reported_with_their_row(bad):
    votes = _two_camps()
    votes["vote"] = votes["vote"].astype(object)
    votes.loc[3, "vote"] = bad
    with pytest.raises(
        ValueError, match=r"1 \(agree\), -1 \(disagree\) or 0 \(pass\); 1 row\(s\)"
    ) as err:
        OpinionGroups().fit(votes)
    assert "row 3" in str(err.value)


def test_empty_ids_and_bad_parameters():
    votes = _two_camps()
    votes.loc[5, "voter_id"] = None
    with pytest.raises(ValueError, match=r"voter_id is empty in 1 row"):
        OpinionGroups().fit(votes)
    with pytest.raises(ValueError, match="max_groups should be at least 2"):
        OpinionGroups(max_groups=1).fit(_two_camps())
    with pytest.raises(ValueError, match="min_votes should be at least 1"):
        OpinionGroups(min_votes=0).fit(_two_camps())
    with pytest.raises(TypeError, match="n_base_clusters should be an integer"):
        OpinionGroups(n_base_clusters=2.5).fit(_two_camps())
    with pytest.raises(TypeError, match="exclude_statements should be a list"):
        OpinionGroups(exclude_statements="7").fit(_two_camps())
    with pytest.raises(RuntimeError, match="not fitted"):
        OpinionGroups().predict(["a0"])


def test_the_last_row_of_a_repeated_pair_wins():
    votes = _two_camps()
    earlier = pd.DataFrame([("a1", 3, -1), ("b2", 7, 0)], columns=votes.columns)
    with_revotes = pd.concat([earlier, votes], ignore_index=True)
    a, b = OpinionGroups().fit(votes), OpinionGroups().fit(with_revotes)
    assert a.groups_ == b.groups_
    pd.testing.assert_frame_equal(a.repness_, b.repness_)
    flipped = pd.concat([votes, earlier], ignore_index=True)  # now the -1 and the 0 come last
    c = OpinionGroups().fit(flipped)
    assert (
        c.repness_.set_index(["group", "statement_id"]).loc[(c.groups_["a1"], 3), "n_disagree"] == 1
    )


def test_excluded_statements_count_as_seen_but_carry_no_opinion():
    votes = _two_camps()
    flipped = votes.copy()
    flipped.loc[flipped["statement_id"] == 9, "vote"] *= -1
    a = OpinionGroups(exclude_statements=[9, "never voted on"]).fit(votes)
    b = OpinionGroups(exclude_statements=[9]).fit(flipped)
    pd.testing.assert_frame_equal(a.projection_, b.projection_)
    assert 9 not in a.consensus_.index
    assert 9 not in set(a.repness_["statement_id"])
    assert all(s.statement_id != 9 for chosen in a.representative_.values() for s in chosen)


# --- edge cases --------------------------------------------------------------------------------------


def test_fewer_voters_than_base_clusters():
    model = OpinionGroups(n_base_clusters=100).fit(_two_camps())
    assert len(model.base_clusters_) <= 20
    assert sorted(model.groups_) == sorted(f"{c}{i}" for c in "ab" for i in range(10))
    assert model.predict(["a3", "b3", "nobody"]).tolist() == [
        model.groups_["a3"],
        model.groups_["b3"],
        -1,
    ]


def test_one_statement():
    votes = pd.DataFrame(
        {"voter_id": range(12), "statement_id": ["only"] * 12, "vote": [1] * 6 + [-1] * 4 + [0] * 2}
    )
    model = OpinionGroups().fit(votes)
    assert set(model.groups_) == set(range(12))  # min(7, 1) = 1 vote is enough
    assert (model.projection_["y"] == 0).all()
    assert model.groups_[0] != model.groups_[6]  # an agree and a disagree are not in one group
    assert model.consensus_.index.tolist() == ["only"]


def test_everyone_votes_the_same():
    votes = pd.DataFrame(
        [(v, s, 1) for v in range(20) for s in range(8)],
        columns=["voter_id", "statement_id", "vote"],
    )
    model = OpinionGroups().fit(votes)
    assert model.n_groups_ == 1
    assert set(model.groups_.values()) == {0} and len(model.groups_) == 20
    assert (model.projection_.to_numpy() == 0).all()
    assert model.consensus_.loc[0, "agree"] == pytest.approx(21 / 22)
    assert model.consensus_.loc[0, "disagree"] == pytest.approx(1 / 22)


def test_too_few_qualify_so_the_most_active_are_added():
    # 20 voters, 10 statements, voter i casts 1 + i % 5 votes: nobody reaches 7
    rows = [(v, s, 1 if (v + s) % 2 else -1) for v in range(20) for s in range(1 + v % 5)]
    votes = pd.DataFrame(rows, columns=["voter_id", "statement_id", "vote"])
    votes = pd.concat([votes, pd.DataFrame({"voter_id": [0], "statement_id": [9], "vote": [0]})])
    model = OpinionGroups().fit(votes)
    counts = votes.groupby("voter_id").size()
    assert len(model.clustered_) == 15
    assert min(counts[model.clustered_]) >= max(counts.drop(model.clustered_))


def test_ties_for_the_most_active_follow_polis_map_order():
    # Pol.is's map of participants' vote counts, as written in one of its math blobs
    # (user-vote-counts of r4tykwac8thvzv35jrn53_math_blob.json, pids 0..535): its first keys
    polis_key_order = [0, 453, 487, 519, 357, 275, 530, 389, 410, 433, 521, 451, 291, 443, 249]
    assert _clojure_map_order(list(range(536)))[:15].tolist() == polis_key_order
    assert _clojure_map_order(["b", "a", "c"] * 4).tolist() == list(range(12))  # not integers
    assert _clojure_map_order([5, 3, 1]).tolist() == [0, 1, 2]  # up to 8: an array map
    # voter 0 has both statements' votes, so qualifies (min(7, 2) = 2); 19 more tie on one vote
    # each, and the 14 still needed to reach 15 are taken in Pol.is's map order
    votes = pd.DataFrame({"voter_id": range(20), "statement_id": [i % 2 for i in range(20)]})
    votes["vote"] = 1
    votes = pd.concat([votes, pd.DataFrame({"voter_id": [0], "statement_id": [1], "vote": [1]})])
    clustered = OpinionGroups(min_votes=7).fit(votes).clustered_
    expected = [0] + [int(i) for i in _clojure_map_order(list(range(20))) if i != 0][:14]
    assert sorted(clustered) == sorted(expected)


def test_partial_fit_keeps_pol_is_history():
    first = _two_camps(pass_first=False)
    first = first[first["statement_id"] < 3]  # 3 statements: 3 votes are enough to be clustered
    later = _two_camps(pass_first=False)
    later = later[(later["statement_id"] >= 3) & (later["voter_id"] != "a0")]
    model = OpinionGroups().fit(first)
    assert "a0" in model.clustered_
    model.partial_fit(later)
    assert model.n_updates_ == 2
    # a0 has 3 votes of 10 now, but once in, stays in, as in Pol.is; a fresh fit leaves a0 out
    assert "a0" in model.clustered_
    fresh = OpinionGroups().fit(pd.concat([first, later]))
    assert "a0" not in fresh.clustered_
    assert fresh.n_updates_ == 1
    assert model.groups_["a0"] == model.groups_["a1"] != model.groups_["b1"]
