"""Share: exports, reports and the public catalogue."""
