"""suti: subject-driven text-to-image generation by apprenticeship learning (SuTI, Chen et al. 2023)."""

__version__ = "0.1.0"
