"""Every parquet table's schema, defined once.

Corpus tables carry ground truth in `gt_*` columns. No mining or training code reads them: readers ask for
`PUBLIC_CORPUS_COLUMNS`, and only `suti.evaluation` reads the `gt_*` columns back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from suti.errors import SutiError

CORPUS = pa.schema([
    ("page_id", pa.string()),           # a web page (SynthBench: one page per subject)
    ("image_id", pa.string()),          # unique in the corpus
    ("image", pa.binary()),             # PNG bytes (may be undecodable: the corpus is noisy on purpose)
    ("caption", pa.string()),           # may be empty or miss the subject
    ("source", pa.string()),            # "synthbench", "folder:<dir>", "manifest:<file>"
    ("gt_subject_id", pa.int64()),      # ground truth (null for real corpora)
    ("gt_class", pa.string()),
    ("gt_colour", pa.string()),
    ("gt_pattern", pa.string()),
    ("gt_role", pa.string()),           # "subject" | "distractor" | "duplicate"
    ("gt_duplicate_of", pa.string()),   # image_id of the original, for near-duplicates
    ("gt_corrupt", pa.string()),        # "" | "bytes" | "caption"
    ("gt_scene", pa.string()),          # JSON of the Scene
])
PUBLIC_CORPUS_COLUMNS: tuple[str, ...] = tuple(n for n in CORPUS.names if not n.startswith("gt_"))
GT_COLUMNS: tuple[str, ...] = tuple(n for n in CORPUS.names if n.startswith("gt_"))

REJECTED = pa.schema([                # results/corpus/rejected.parquet: real-corpus inputs skipped or altered at ingest
    ("path", pa.string()),              # as the folder or manifest names it
    ("page_id", pa.string()),           # the page it would have joined ("" when unknown)
    ("reason", pa.string()),            # one of suti.data.ingest.REASONS
    ("detail", pa.string()),            # what was found (decoder message, size, resolved target)
])

CLUSTERS = pa.schema([
    ("cluster_id", pa.string()),        # one mined subject
    ("split", pa.string()),             # "train" | "heldout"
    ("class_noun", pa.string()),        # from the captions
    ("page_id", pa.string()),
    ("image_id", pa.string()),
    ("caption", pa.string()),
    ("image", pa.binary()),             # PNG bytes, decodable
    ("similarity", pa.float32()),       # cosine to the cluster centre in the mining embedding
])

PRIORS = pa.schema([
    ("class_noun", pa.string()),
    ("prompt", pa.string()),            # the class prompt ("a photo of a mug")
    ("seed", pa.int64()),
    ("image", pa.binary()),             # PNG, sampled from the base model
])

EXPERT_SAMPLES = pa.schema([
    ("subject", pa.string()),           # mined cluster id
    ("expert_id", pa.string()),         # "<shard>/<index in shard>"
    ("class_noun", pa.string()),
    ("prompt_id", pa.string()),         # SynthBench template id
    ("category", pa.string()),          # recontextualization | accessorization | property
    ("prompt", pa.string()),            # with the identifier ("a sks mug on the beach")
    ("seed", pa.int64()),               # the image's own sampling seed
    ("image", pa.binary()),             # PNG
])

SAMPLE_SCORES = pa.schema([
    ("subject", pa.string()),
    ("expert_id", pa.string()),
    ("prompt_id", pa.string()),
    ("category", pa.string()),
    ("class_prompt", pa.string()),      # the prompt with the identifier replaced by the class noun
    ("seed", pa.int64()),
    ("clip_t", pa.float32()),           # CLIP-T(sample, class prompt)
    ("clip_t_real", pa.float32()),      # mean CLIP-T(subject's own images, class prompt)
    ("delta_clip", pa.float32()),       # clip_t - clip_t_real
    ("clip_i", pa.float32()),           # mean cosine to the subject's own images
    ("scorer", pa.string()),            # which CLIP computed the scores
    ("probe_subject_accuracy", pa.float32()),  # SynthBench ground truth (null without): validates the filter
    ("probe_prompt_accuracy", pa.float32()),
])

FILTERED_SAMPLES = pa.schema(list(EXPERT_SAMPLES) + [
    ("delta_clip", pa.float32()),
    ("clip_i", pa.float32()),
])

FILTER_COUNTS = pa.schema([
    ("tau", pa.string()),               # "none" (no filter) or the threshold, as in results/filter/{tau}/
    ("subject", pa.string()),
    ("category", pa.string()),
    ("candidates", pa.int64()),         # expert samples scored
    ("kept", pa.int64()),               # samples that pass the filter
])

EVAL_GENERATIONS = pa.schema([
    ("bench", pa.string()),             # synthbench | dreambench
    ("method", pa.string()),            # base | oracle | experts-k<K> | suti-<tau>-k<K> | dreamsuti-<tau>-k<K>
    ("subject", pa.string()),
    ("class_noun", pa.string()),
    ("prompt_id", pa.string()),
    ("category", pa.string()),
    ("prompt", pa.string()),            # with the class noun (what CLIP-T is measured against)
    ("demos", pa.int32()),              # demonstration images given (0: none)
    ("tau", pa.string()),               # the filter of the apprentice's training set ("" when not applicable)
    ("subset", pa.string()),            # held-out subjects: "" the comparison's, "wide" the demonstration ablation's
    ("replicate", pa.int32()),          # which training replicate made the method (config `replicates`; 0 = the first)
    ("seed", pa.int64()),
    ("reference", pa.int32()),          # oracle rows: index of the real image shown (left out of CLIP-I), else -1
    ("seconds", pa.float64()),          # wall-clock seconds per subject, demonstrations to its N images
    ("image", pa.binary()),             # PNG
])

EVAL_SCORES = pa.schema([f for f in EVAL_GENERATIONS if f.name != "image"] + [
    ("identity_accuracy", pa.float32()),  # SynthBench judge: re-identified among look-alikes (0/1), identity prompts
    ("id_similarity", pa.float32()),    # SynthBench judge: mean cosine to the subject's fresh reference renders
    ("dino", pa.float32()),             # null when the DINO scorer is missing (see dino_scorer)
    ("clip_i", pa.float32()),
    ("clip_t", pa.float32()),           # null where not applicable (real photos do not show the prompt)
    ("subject_accuracy", pa.float32()), # SynthBench probe: share of the subject's attributes drawn right
    ("pattern_accuracy", pa.float32()), # SynthBench probe: the subject's (or the prompted) pattern read back (0/1)
    ("prompt_accuracy", pa.float32()),  # SynthBench probe: the prompted attribute drawn right (0/1)
    ("copy_rate", pa.float32()),        # SynthBench probe: a demonstration's scene instead of the prompted one (0/1)
    ("demo_similarity_gap", pa.float32()),  # SynthBench judge: cosine to the demonstrations minus to references
    ("clip_scorer", pa.string()),
    ("dino_scorer", pa.string()),       # or "missing: <reason>"
    ("probe_scorer", pa.string()),
    ("judge_scorer", pa.string()),      # the identity judge, or "missing: <reason>"
    ("judge_features", pa.list_(pa.float32())),  # SynthBench judge: the image's embedding (image quality: Fréchet
    ("truth_features", pa.list_(pa.float32())),  # distance to these, a ground-truth render of its prompt's)
])

DREAMBENCH_IMAGES = pa.schema([
    ("subject", pa.string()),
    ("class_noun", pa.string()),
    ("live", pa.bool_()),
    ("image_id", pa.string()),          # "<subject>/<NN>"
    ("image", pa.binary()),             # PNG, centre-cropped and resized to the configured resolution
])

DREAMBENCH_PROMPTS = pa.schema([
    ("kind", pa.string()),              # "object" | "live"
    ("index", pa.int32()),
    ("template", pa.string()),          # with DreamBench's {0} (identifier) and {1} (class) slots
])


def from_rows(rows: Sequence[dict], schema: pa.Schema) -> pa.Table:
    """A table of `schema` from dict rows (missing keys become nulls)."""
    return pa.Table.from_pylist(list(rows), schema=schema)


def read_table(paths: Iterable[str | Path], columns: Sequence[str] | None = None) -> pa.Table:
    """Concatenate parquet files, reading only `columns`. A missing or unreadable file fails with one line."""
    parts = []
    for path in paths:
        if not Path(path).exists():
            raise SutiError(f"no such table: {path}")
        try:
            parts.append(pq.read_table(path, columns=list(columns) if columns else None))
        except (pa.ArrowInvalid, OSError) as err:
            raise SutiError(f"unreadable parquet table {path}: {str(err).splitlines()[0]}") from err
    if not parts:
        raise SutiError("no input tables given")
    return pa.concat_tables(parts)


def read_corpus(paths: Iterable[str | Path]) -> pa.Table:
    """The corpus as mining and training see it: no ground-truth columns."""
    return read_table(paths, PUBLIC_CORPUS_COLUMNS)
