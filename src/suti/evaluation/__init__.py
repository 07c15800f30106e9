"""Evaluation against ground truth and benchmarks. The only code that reads the corpus's `gt_*` columns."""
