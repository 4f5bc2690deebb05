"""A notebook-first, reproducible study of adversarial robustness in PyTorch

Modules:

- `advstudy.defenses`: Adversarial training methods as hooks of the one training loop: Madry (PGD), SAT (shared), UAT (universal) and CoAM (category-oriented adversarial masks with class-distinctive momentum). Seed 000's training methods.
- `advstudy.universal`: Universal adversarial perturbations: C-UAP (DeepFool-driven), F-UAP (sign ascent on clipped cross-entropy) and CD-UAP (class-discriminative), with the fooling rate, projection, saving and loading. Seed 000's attacks."""

__version__ = "0.0.1"
