"""Pages of the Evaluate stage, one module per part: the lifecycle of tracked changes
(``changes``), the co-design canvas (``design``), pulse feedback (``pulse``), evaluation records
with evidence and documents (``evaluations``), metrics and SPC charts (``metrics``) and the public
evaluation repository (``repository``)."""
