"""A notebook-first, reproducible study of adversarial robustness in PyTorch

Modules:

- `advstudy.universal`: Universal adversarial perturbations: C-UAP (DeepFool-driven), F-UAP (sign ascent on clipped cross-entropy) and CD-UAP (class-discriminative), with the fooling rate, projection, saving and loading. Seed 000's attacks."""

__version__ = "0.0.1"
