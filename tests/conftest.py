"""Shared test fixtures: repository paths, the shared DreamBench copy, small corpora."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
DREAMBENCH = REPO.parent / "shared" / "dreambench"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def dreambench_root() -> Path:
    if not (DREAMBENCH / "prompts_and_classes.txt").exists():
        pytest.fail(f"DreamBench not found at {DREAMBENCH}: put google/dreambooth's dataset/ folder there "
                    f"(the shared read-only copy beside the repository)")
    return DREAMBENCH


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory):
    """A 60-page SynthBench corpus in two parquet shards (built once per session)."""
    from suti import io
    from suti.data.corpus import CorpusConfig, iter_shards
    from suti.world.config import WorldConfig

    out = tmp_path_factory.mktemp("corpus")
    wcfg, cfg = WorldConfig(n_subjects=1000, n_distractor_subjects=50), CorpusConfig(n_pages=60, n_shards=2)
    paths = []
    for i, table in enumerate(iter_shards(0, wcfg, cfg)):
        paths.append(out / f"shard-{i:03d}.parquet")
        io.write_parquet(table, paths[-1])
    return paths

# One persistent JAX compile cache for the pipelines the suite starts (each job is a process; compiles cost seconds
# each). The test process itself keeps its compiles in memory only: writing a compiled executable to the persistent
# cache segfaulted it (in compilation_cache.put_executable_and_time, under the flags below), on CI and here.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(REPO / ".cache" / "jax"))
# Tests compile many small models once each, so XLA's LLVM optimisation costs more than it saves (measured on a cold
# compile cache: the apprentice tests 169 s -> 106 s). The pipeline and the benches keep full optimisation.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true")


def pytest_configure(config):
    import jax

    jax.config.update("jax_enable_compilation_cache", False)
