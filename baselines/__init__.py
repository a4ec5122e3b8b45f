"""Classical baselines run through the same harness path as the transformers."""
