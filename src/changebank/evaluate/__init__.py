"""Stage 4, Evaluate: the change lifecycle, co-design, pulse feedback, evaluation records,
metrics with Making Data Count SPC, and the public evaluation repository."""
