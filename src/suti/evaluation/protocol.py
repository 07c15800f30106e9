"""The evaluation protocol: per-image metrics for every method's generations, and per-method means with bootstrap
95% confidence intervals over subjects.

Per image (DreamBench's metrics, plus SynthBench's exact ones):
  identity_accuracy, id_similarity  (SynthBench) re-identification among look-alikes and similarity to fresh
          references, by the identity judge (`evaluation.identity`)
  DINO    mean cosine of DINO ViT-S/16 features to the subject's reference images, never its demonstrations (fresh
          renders on SynthBench, the photos not given as demonstrations on DreamBench; missing with a reason without
          weights)
  CLIP-I  the same with the evaluation CLIP's image embeddings (never scoring.clip's: `evaluation.eval_clip`)
  CLIP-T  the evaluation CLIP's cosine of the image to the prompt written with the class noun (missing for real
          photos: they do not show the prompt)
  subject_accuracy  (SynthBench) share of the subject's class, colour and pattern the probe reads back, the colour or
          pattern the prompt changes counted as the prompted one
  pattern_accuracy  (SynthBench) 1 when the probe reads the subject's pattern (the prompted one for a repattern
          prompt); read by a head below the reliability threshold, so its ceiling (the probe's own pattern accuracy
          on clean renders) is printed beside it
  prompt_accuracy   (SynthBench) 1 when the probe reads back what the prompt asks for (background, accessory,
          colour, pattern or material)
  copy_rate, demo_similarity_gap  (SynthBench) the demonstrations' scene instead of the prompted one; the judge's
          similarity to the demonstrations beyond that to fresh references (`suti.evaluation.copying`)
Per method (a set metric, in `summarise`): judge_frechet, the Fréchet distance in the judge's space between the
method's images and ground-truth renders of the same prompts (SynthBench image quality: blobs score far, crisp
renders of the right subject near; the oracle's value is the floor at this many images).
Both use only the probe heads that read clean renders at >= `scoring.probe_min_accuracy` (0.95): at 32 px the probe
reads class, colour, background and accessory that well, pattern (~0.88) and material (~0.89) not, so those are left
out (subject accuracy over class and colour; prompt accuracy missing for pattern and material prompts).
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np

from suti.scoring import metrics
from suti.scoring.probe import HEADS, load_probe, make_predict, predict_batched, to_model_input
from suti.world import prompts

METRICS = ("identity_accuracy", "id_similarity", "dino", "clip_i", "clip_t", "subject_accuracy", "pattern_accuracy",
           "prompt_accuracy", "copy_rate", "demo_similarity_gap")
IDENTITY = ("class", "colour", "pattern")
SCENE_HEAD = {"background": "background", "companion": "companion", "recolour": "colour", "repattern": "pattern",
               "material": "material"}


def expected_attributes(truth: dict, template: prompts.PromptTemplate) -> tuple[dict, tuple[str, str]]:
    """({head: value} the subject should show under this prompt, (head, value) the prompt asks for)."""
    subject = {a: truth[a] for a in IDENTITY}
    field, value = template.scene[0]
    head = SCENE_HEAD[field]
    if head in subject:
        subject[head] = value
    return subject, (head, value)


@dataclasses.dataclass(frozen=True)
class ProbeReader:
    """The SynthBench probe, trusted only for the heads it reads at >= `min_accuracy` on clean renders: a metric is
    never computed from a reader that gets it wrong more than the threshold allows."""

    graphdef: object
    params: object
    accuracy: dict            # its own per-head accuracy on clean renders (train_probe's summary)
    min_accuracy: float = 0.95

    @property
    def reliable(self) -> frozenset[str]:
        return frozenset(h for h, a in self.accuracy.items() if a >= self.min_accuracy)

    @property
    def id(self) -> str:
        return f"suti-probe-cnn[{','.join(h for h in HEADS if h in self.reliable)}]"


def probe_accuracies(probe: ProbeReader, images_u8: np.ndarray, rows: list[dict],
                     truths: dict) -> dict[str, np.ndarray]:
    """{"subject_accuracy", "pattern_accuracy", "prompt_accuracy": [N]}. Subject and prompt accuracy are read by the
    probe's reliable heads, NaN where the attribute asked for is one the probe cannot read reliably (or no identity
    attribute is); pattern accuracy by the pattern head whatever its reliability (its ceiling is reported)."""
    pred = predict_batched(make_predict(probe.graphdef), probe.params, to_model_input(images_u8))
    by_id = {p.prompt_id: p for p in prompts.PROMPTS}
    out = {m: np.full(len(rows), np.nan) for m in ("subject_accuracy", "pattern_accuracy", "prompt_accuracy")}
    for n, row in enumerate(rows):
        subject, (head, value) = expected_attributes(truths[row["subject"]], by_id[row["prompt_id"]])
        read = [HEADS[h][pred[h][n]] == v for h, v in subject.items() if h in probe.reliable]
        if read:
            out["subject_accuracy"][n] = np.mean(read)
        out["pattern_accuracy"][n] = float(HEADS["pattern"][pred["pattern"][n]] == subject["pattern"])
        if head in probe.reliable:
            out["prompt_accuracy"][n] = float(HEADS[head][pred[head][n]] == value)
    return out


def similarity_to_references(emb: np.ndarray, embed, rows: list[dict], references: dict) -> np.ndarray:
    """Mean cosine of each image's embedding [N, D] to its subject's real images, embedded with `embed`
    (leave-one-out where `reference` >= 0)."""
    out = np.full(len(rows), np.nan)
    subjects = np.array([r["subject"] for r in rows])
    exclude = np.array([r.get("reference", -1) for r in rows])
    for subject, real in references.items():
        m = subjects == subject
        if m.any():
            out[m] = metrics.mean_similarity(emb[m], embed(real), exclude[m])
    return out


def score_images(rows: list[dict], images_u8: np.ndarray, references: dict, clip, dino, probe=None,
                 truths: dict | None = None) -> dict[str, np.ndarray]:
    """{metric: [N]} (NaN = missing) for generated images of `rows` (subject, prompt, prompt_id, reference); `clip` is
    the evaluation CLIP (`evaluation.eval_clip`; None: CLIP-I and CLIP-T missing); the identity metrics are
    `evaluation.identity`'s."""
    out = {m: np.full(len(rows), np.nan) for m in METRICS}
    if hasattr(dino, "embed_images"):
        out["dino"] = similarity_to_references(dino.embed_images(images_u8), dino.embed_images, rows, references)
    if probe is not None and truths is not None:
        out.update(probe_accuracies(probe, images_u8, rows, truths))
    if clip is None:  # no evaluation CLIP: CLIP-I and CLIP-T missing (its reason is the clip_scorer column)
        return out
    clip_emb = clip.embed_images(images_u8)
    out["clip_i"] = similarity_to_references(clip_emb, clip.embed_images, rows, references)
    with_prompt = np.array([bool(r["prompt"]) for r in rows])
    if with_prompt.any():
        texts = [r["prompt"] for r in rows if r["prompt"]]
        distinct = sorted(set(texts))
        text_of = dict(zip(distinct, clip.embed_texts(distinct)))
        out["clip_t"][with_prompt] = metrics.clip_t(clip_emb[with_prompt], np.stack([text_of[t] for t in texts]))
    return out


def bootstrap_ci(values: np.ndarray, subjects: np.ndarray, n_boot: int, seed: int,
                 replicates: np.ndarray | None = None) -> tuple[float, float, float]:
    """(mean, low, high): the mean over subjects of per-subject means, and its 95% percentile bootstrap interval.

    Each draw resamples subjects with replacement and, independently, the replicates (independent trainings: config
    `replicates`) with replacement. A replicate is one training run of every expert and apprentice, so its effect is
    shared by all subjects and the draw takes the same replicates for each of them; the interval spans both sources
    of variation. With one replicate it is the plain subject bootstrap. A subject's mean is the mean of its
    replicates' means. NaNs (missing values) are ignored; all missing gives NaNs."""
    ok = ~np.isnan(values)
    if not ok.any():
        return (float("nan"),) * 3
    replicates = np.zeros(len(values), np.int64) if replicates is None else np.asarray(replicates)
    names, reps = sorted(set(subjects[ok])), sorted(set(replicates[ok]))
    cells = np.full((len(names), len(reps)), np.nan)                                          # [subjects, reps]
    for i, name in enumerate(names):
        for j, rep in enumerate(reps):
            mask = ok & (subjects == name) & (replicates == rep)
            if mask.any():
                cells[i, j] = values[mask].mean()
    per_subject = np.nanmean(cells, axis=1)
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(names), size=(n_boot, len(names)))
    runs = rng.integers(0, len(reps), size=(n_boot, len(reps)))
    resampled = cells[drawn[:, :, None], runs[:, None, :]]                                # [n_boot, subjects, reps]
    # a subject missing a replicate: its draws of that replicate fall back to the subject's mean
    resampled = np.where(np.isnan(resampled), per_subject[drawn][..., None], resampled)
    draws = resampled.mean(axis=2).mean(axis=1)
    return float(per_subject.mean()), float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))


FRECHET_BOOTSTRAP = 200  # subject resamples of a Fréchet interval (each costs an eigendecomposition)


def frechet_ci(members: list[dict], subjects: np.ndarray, n_boot: int, seed: int) -> tuple[float, float, float]:
    """(FD, low, high): the Fréchet distance in the judge's space between a method's images and ground-truth renders
    of the same prompts (`judge_features`, `truth_features`), with a 95% bootstrap interval over subjects (each draw
    takes every image of the subjects drawn). A resampled set repeats subjects, which inflates a Fréchet distance (a
    covariance of fewer distinct points) by a near-constant bias: the draws' 2.5-97.5% spread is re-centred on the
    estimate (their median moved onto it), so the interval says how far the figure moves, not how biased a resample
    is. NaNs without judge features."""
    have = [n for n, r in enumerate(members) if r.get("judge_features") is not None]
    if len(have) < 2:
        return (float("nan"),) * 3
    gen = np.array([members[n]["judge_features"] for n in have], np.float64)
    truth = np.array([members[n]["truth_features"] for n in have], np.float64)
    names = subjects[have]
    distinct = sorted(set(names))
    index = {s: np.flatnonzero(names == s) for s in distinct}
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        rows = np.concatenate([index[distinct[i]] for i in rng.integers(0, len(distinct), len(distinct))])
        draws.append(metrics.frechet_distance(gen[rows], truth[rows]))
    estimate, (low, median, high) = metrics.frechet_distance(gen, truth), np.percentile(draws, [2.5, 50, 97.5])
    return estimate, float(estimate - (median - low)), float(estimate + (high - median))


GROUP = ("bench", "method", "tau", "demos", "subset")


def summarise(rows: list[dict], n_boot: int, seed: int) -> list[dict]:
    """One row per (bench, method, tau, demos, subset of subjects), pooling its replicates: counts, seconds per
    subject, and mean / low / high per metric (intervals over subjects and replicates)."""
    groups = collections.defaultdict(list)
    for row in rows:
        subset = row.get("subset") or ""  # scores written before the subset column: the comparison's subjects
        groups[tuple(row[k] for k in GROUP[:-1]) + (subset,)].append(row)
    out = []
    for key, members in sorted(groups.items()):
        subjects = np.array([r["subject"] for r in members])
        replicates = np.array([r.get("replicate") or 0 for r in members])
        seconds = {key: r["seconds"] for key, r in zip(zip(subjects, replicates), members)}
        summary = dict(zip(GROUP, key), subjects=len(set(subjects)), replicates=len(set(replicates)),
                       images=len(members), seconds_per_subject=float(np.mean(list(seconds.values()))),
                       clip_scorer=members[0]["clip_scorer"], dino_scorer=members[0]["dino_scorer"],
                       probe_scorer=members[0]["probe_scorer"], judge_scorer=members[0].get("judge_scorer") or
                       "missing: scored before the identity judge existed")
        for metric in METRICS:
            values = np.array([np.nan if r.get(metric) is None else r[metric] for r in members], np.float64)
            summary[metric], summary[f"{metric}_low"], summary[f"{metric}_high"] = bootstrap_ci(
                values, subjects, n_boot, seed, replicates)
        summary["judge_frechet"], summary["judge_frechet_low"], summary["judge_frechet_high"] = frechet_ci(
            members, subjects, min(n_boot, FRECHET_BOOTSTRAP), seed)
        out.append(summary)
    return out


def load_probe_reader(directory, min_accuracy: float) -> ProbeReader:
    """The exported probe as a `ProbeReader`: trusted for the heads it reads at >= min_accuracy on clean renders."""
    graphdef, params, meta = load_probe(directory)
    return ProbeReader(graphdef, params, dict(meta["accuracy"]), min_accuracy)
