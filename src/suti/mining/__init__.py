"""Subject-cluster mining: `embed` (pluggable image embeddings) and `clusters` (pages -> clean clusters, splits)."""
