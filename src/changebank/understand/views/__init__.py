"""Pages of the Understand stage, one module for each part of the workspace."""
