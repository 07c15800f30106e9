"""Every random stream's salt, in one place.

Randomness is a function of (seed, stream[, step]): numpy draws come from `np.random.default_rng([seed, SALT, ...])`
and JAX keys from `jax.random.fold_in(jax.random.key(seed), STREAM)`, so a resumed run redraws what an uninterrupted
one drew, and two uses of one seed never share draws. A new use of randomness takes a new name here. Three salts
serve two uses each (pretraining and the experiment's own use of the same thing); their values are kept, since the
released models and every recorded figure were drawn with them. SynthBench's world (`suti.world`) keeps its own
salts: they are part of the world's fingerprint.
"""

from __future__ import annotations

# numpy streams: np.random.default_rng([seed, SALT, ...])
CORPUS_PAGES = 0xC04B05        # build_corpus: each page's subject, scenes and noise
MINING_SPLIT = 0x5711          # mining: which clusters are held out
TRAIN_BATCHES = 0xBA7C         # training.loop.batch_indices: the dataset rows of a step
PRIOR_BATCHES = 0x9A10         # xor-ed into an expert's seed for its class-prior rows
APPRENTICE_BATCHES = 0xA99E    # the apprentice's targets and demonstrations of a step (imitating the experts)
APPRENTICE_CLUSTER_BATCHES = 0xA99C  # ... of a step of its in-context pretraining on the mined clusters
APPRENTICE_DISTILL_BATCHES = 0xA99D  # ... of a step of its guidance distillation
APPRENTICE_REPLAY_BATCHES = 0xA99F   # ... the raw-cluster share of an imitation step (apprentice.cluster_replay)
CLIP_BATCHES = 0xC11B          # the scorer's caption batches (corpus); also the CLIP's pretraining stream
EXPERT_TEMPLATES = 0x7E37      # the prompt templates an expert renders
EVAL_TEMPLATES = 0xE7A1        # the evaluation plan's prompt templates per subject; also the held-out draws of the
                               # probe and of pretraining
BASE_EVAL_PROMPTS = 0xE7A1B    # eval_base: the colours of its (class, background) prompts
BASE_EVAL_ORACLE = 0x0AC1E     # eval_base: the ground-truth renders of its prompts
BASE_EVAL_CLASS_SWAP = 0xC1A55 # eval_base: class_word_effect on ground-truth renders
PROBE_TRAIN = 0x9B0BE          # the probe's training renders
PRETRAIN_BASE = 0xBA5E         # the base model's pretraining render stream
PRETRAIN_TOKENIZER = 0x7E47    # the stream captions the pretrained base model's tokenizer is built from
PRETRAIN_APPRENTICE = 0xA9E7   # the pretrained apprentice's pool of stream identities and their scenes
JUDGE_TRAIN = 0x1D7A        # the identity judge's training batches (look-alike groups of stream identities)
JUDGE_EVAL = 0x1DE7         # its held-out readings: identities and query scenes
JUDGE_REFERENCES = 0x1DEF   # the reference scenes of a candidate subject (by its id), wherever it is judged
TEST_SUBJECTS = 0x7E57        # the test split's subject ids (evaluation.test.seed)
TEST_DEMONSTRATIONS = 0x7E5D  # the scenes of each test subject's curated demonstrations
FRECHET_TRUTH = 0xF7EC        # the scenes of the ground-truth renders a method's Fréchet distance is measured against
EVAL_CLIP_TRAIN = 0xE7C11B     # the evaluation CLIP's pretraining stream (its own: it never sees the scorer's)
EVAL_CLIP_VOCABULARY = 0xE7C10C  # the stream captions whose tokens the evaluation CLIP's vocabulary holds
PRETRAIN_CLIP = CLIP_BATCHES
PROBE_EVAL = PRETRAIN_EVAL = EVAL_TEMPLATES

# JAX streams: jax.random.fold_in(jax.random.key(seed), STREAM)
T2I_INIT, T2I_TRAIN = 1, 2                 # the text-to-image model's initialisation and training noise
EXPERT_TRAIN = 4                           # an expert's training noise, from its own seed
APPRENTICE_INIT, APPRENTICE_TRAIN = 11, 12 # the apprentice's new weights and training noise
APPRENTICE_CLUSTER_TRAIN = 14              # its training noise in pretraining on the clusters
DREAM_SUTI = 13                            # Dream-SuTI's per-subject fine-tuning noise
APPRENTICE_DISTILL_TRAIN = 15              # the apprentice's guidance distillation noise
JUDGE_INIT = 16                            # the identity judge's initial weights
