"""Mining quality against SynthBench ground truth: cluster purity, recall and class-noun accuracy.

Definitions (micro-averaged over images):
- purity: of the images kept in clusters, the fraction showing the subject their cluster's page is centred on;
- recall: of the page subjects' genuine shots (role "subject", not corrupt), the fraction kept, a shot counting as
  kept when it or one of its near-duplicates is;
- class accuracy: of the kept clusters, the fraction whose mined class noun is the subject's true class.
"""

from __future__ import annotations

import collections

import pyarrow as pa

from suti.data import tables


def mining_quality(clusters: pa.Table, corpus_paths) -> dict:
    """Purity, recall and class accuracy of `clusters` against the corpus's ground truth."""
    gt = tables.read_table(corpus_paths, ["page_id", "image_id", *tables.GT_COLUMNS]).to_pylist()
    if any(r["gt_subject_id"] is None for r in gt):
        return dict(purity=None, recall=None, class_accuracy=None, reason="corpus has no ground truth")
    by_id = {r["image_id"]: r for r in gt}
    page_subject = {r["page_id"]: (r["gt_subject_id"], r["gt_class"]) for r in gt if r["gt_role"] == "subject"}
    kept = clusters.select(["cluster_id", "page_id", "image_id", "class_noun"]).to_pylist()
    kept_ids = {r["image_id"] for r in kept}

    pure = sum(by_id[r["image_id"]]["gt_subject_id"] == page_subject[r["page_id"]][0] for r in kept)
    duplicates = collections.defaultdict(list)
    for r in gt:
        if r["gt_duplicate_of"]:
            duplicates[r["gt_duplicate_of"]].append(r["image_id"])
    shots = [r["image_id"] for r in gt if r["gt_role"] == "subject" and not r["gt_corrupt"]]
    recalled = sum(s in kept_ids or any(d in kept_ids for d in duplicates[s]) for s in shots)
    nouns = {r["cluster_id"]: (r["class_noun"], r["page_id"]) for r in kept}
    right_class = sum(noun == page_subject[page][1] for noun, page in nouns.values())
    return dict(
        purity=pure / len(kept) if kept else None,
        recall=recalled / len(shots) if shots else None,
        class_accuracy=right_class / len(nouns) if nouns else None,
        images_kept=len(kept),
        genuine_shots=len(shots),
    )
