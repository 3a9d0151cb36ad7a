"""Reference payment webhook service: delivers artist-card packs exactly once."""

__version__ = "0.1.0"
