"""Pages of the Share stage, one module per part: the public catalogue and "you said, we did"
(``catalogue``), themed reports (``reports``), open data downloads (``opendata``) and REFI-QDA
exchange (``refi``). The JSON API is ``changebank.share.api``."""
