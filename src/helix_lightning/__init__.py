"""HELIX-Lightning: video to DNA."""
__version__ = "0.1.0"
