"""Pages of the Decide stage, one module for each method: panels and Delphi rounds, pairwise
voting, opinion groups, discrete choice, and the prioritised long list."""
