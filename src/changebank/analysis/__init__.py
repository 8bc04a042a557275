"""The text-analytics core: pure Python with NumPy and scikit-learn, no Django.

Estimators follow scikit-learn's conventions (parameters in ``__init__``, ``fit`` / ``predict`` /
``transform``, learned attributes ending in ``_``) and can be used from a notebook::

    from changebank.analysis import Coder
    coder = Coder().fit(texts, Y)        # Y: n × k array of 0/1
    coder.predict(new_texts)

Modules: ``embed`` and ``minilm`` (texts to vectors, offline), ``theme`` (``ThemeModel``: codes
and themes discovered) with ``graph`` (Leiden on a neighbour graph) and ``keywords`` (class-based
TF-IDF labels), ``coder`` (auto-coding to a codebook), ``distinct`` (distinct changes),
``sentiment`` (five-point sentiment and keep / concern stance), ``segment`` (clauses),
``agreement`` (kappa, alpha, sample F1), ``groups`` (who said it), ``representation`` (contributors
against a reference profile), ``cooccurrence`` (codes raised together). For deciding:
``opinion`` (opinion groups as Pol.is computes them) and ``pairwise`` (Bradley–Terry scores,
adaptive pairs), both also under their public name ``consensus``; ``delphi`` (consensus rules and
RAND/UCLA disagreement); ``choice`` (discrete choice designs and the conditional logit). Beyond one
machine: ``distributed`` (``DistributedAnalysis``: the analysis over Parquet or CSV files on Dask).
"""

from .agreement import cohen_kappa, kappa_per_code, krippendorff_alpha, sample_f1
from .choice import Attribute, ChoiceDesign, ConditionalLogit, choice_design, d_error
from .coder import Coder, Suggestion
from .cooccurrence import Cooccurrence, cooccurrence, split_by_label
from .delphi import DelphiResult, DelphiRule
from .distinct import DistinctChanges
from .distributed import DistributedAnalysis
from .embed import (
    CachedEmbedder,
    SentenceTransformerEmbedder,
    TfidfEmbedder,
    WordLlamaEmbedder,
    get_embedder,
)
from .groups import Prevalence, prevalence_by_group, prevalence_over_time
from .pairwise import BradleyTerry, bradley_terry, choose_pair
from .representation import GroupShare, Representation, compare_to_reference
from .segment import segment, segment_all
from .sentiment import SentimentModel, Stance, StanceModel, stance
from .theme import Code, Theme, ThemeModel

__all__ = [
    "Attribute",
    "ChoiceDesign",
    "ConditionalLogit",
    "choice_design",
    "d_error",
    "BradleyTerry",
    "DelphiResult",
    "DelphiRule",
    "bradley_terry",
    "choose_pair",
    "CachedEmbedder",
    "Code",
    "Coder",
    "Cooccurrence",
    "DistinctChanges",
    "DistributedAnalysis",
    "GroupShare",
    "Prevalence",
    "Representation",
    "SentenceTransformerEmbedder",
    "Suggestion",
    "TfidfEmbedder",
    "Theme",
    "ThemeModel",
    "WordLlamaEmbedder",
    "cohen_kappa",
    "compare_to_reference",
    "cooccurrence",
    "get_embedder",
    "kappa_per_code",
    "krippendorff_alpha",
    "prevalence_by_group",
    "prevalence_over_time",
    "sample_f1",
    "segment",
    "segment_all",
    "split_by_label",
    "SentimentModel",
    "Stance",
    "StanceModel",
    "stance",
]
