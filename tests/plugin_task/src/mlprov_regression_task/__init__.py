"""The regression task for mlprov: this folder holds its task.toml and templates.

The notebooks it generates import `noisy_sine` from here, so the task ships its own
data generator along with its templates.
"""

import numpy as np


def noisy_sine(n_samples: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Points x in [0, 2π) and targets sin(x) plus Gaussian noise: one feature, a curve to fit."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0.0, 2 * np.pi, n_samples))
    return x.reshape(-1, 1), np.sin(x) + rng.normal(0.0, noise, n_samples)
