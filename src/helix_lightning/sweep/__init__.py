"""Optuna sweeps (ablation studies) over the codec: one YAML per study in `sweeps/`.

    helix sweep kron_ablation [--budget smoke|default] [--storage URL] [--workers N]
    python -m helix_lightning.sweep kron_ablation --budget smoke      # the same

Every study starts from ONE shared model: an existing checkpoint (`pretrain.from`; the
shipped studies take the committed default model, so their findings hold where the codec is
used) or one it pretrains from its base config (cached as
`runs/sweeps/<study>/pretrained.ckpt`); each trial, one (configuration, seed), fine-tunes
from it what the study varies (or, for a study with `trial.train: false`, only re-encodes),
encodes the held-out evaluation clip to strands through the real codec, decodes it back and
stores every metric as trial user attributes. Modules, one job each:

- `config`    load and validate a sweep YAML, apply a named budget (`Sweep`);
- `storage`   the Optuna storage (journal file by default, PostgreSQL/SQLite by URL), stale
              trials and re-queueing;
- `pretrain`  the shared model: an existing checkpoint, or trained once and reused;
- `callbacks` the Lightning callback that records the validation curve and feeds the pruner;
- `evaluate`  encode/decode the evaluation clip, metrics, histograms, frame snapshots;
- `objective` one trial: parameters -> training config -> train -> evaluate -> user attrs;
- `time_cap`  say (stderr, user attributes) when a time cap stopped a run before max_steps;
- `runner`    the study, its sampler and pruner, worker loop(s), progress and summary.
"""

from .config import Sweep, known_studies, load_sweep

__all__ = ["Sweep", "known_studies", "load_sweep"]
