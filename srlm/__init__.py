"""srlm: Self-Rewarding Language Models (Yuan et al., 2024) on Hydra, TRL and transformers."""
