"""Shared fixtures: small deterministic inputs, CPU only, no network."""

import os
import random

import pytest

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture
def rng_bytes():
    def make(n: int, seed: int = 0) -> bytes:
        return random.Random(seed).randbytes(n)

    return make
