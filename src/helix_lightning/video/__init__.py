"""Video side of the codec: PyAV file I/O (`io`), Lightning data (`datamodule`), baselines."""
