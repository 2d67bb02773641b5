"""Training (stage 1 and stage 2) on synthetic data generated on the GPU; torch only."""
