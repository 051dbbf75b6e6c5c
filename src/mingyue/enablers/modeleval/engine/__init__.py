"""modeleval engines: pure evaluation logic (items, scoring, perturbations, refusal rules, sandbox,
the four-dimension runner); import only mingyue.sdk.errors."""
