"""Stage 3, Decide: panels and the public prioritise the long list of changes."""
