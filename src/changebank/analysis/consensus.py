"""Consensus maths for the Decide stage: opinion groups (as Pol.is) and pairwise ranking
(Bradley–Terry). The implementations live in :mod:`.opinion` and :mod:`.pairwise`; this module is
the stable public name::

    from changebank.analysis.consensus import opinion_groups, bradley_terry
"""

from __future__ import annotations

from .opinion import opinion_groups
from .pairwise import bradley_terry

__all__ = ["bradley_terry", "opinion_groups"]
