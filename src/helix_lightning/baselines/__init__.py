"""Classic video codec baselines (x264, x265, SVT-AV1, VP9) through DNA, and the RD benchmark."""
