"""Stage 5, Share: the public catalogue and "you said, we did", themed reports (HTML, PDF, Word),
open data, REFI-QDA exchange with NVivo, ATLAS.ti, MAXQDA and QualCoder, and the JSON API."""
