"""Reports from the Optuna sweeps: markdown with matplotlib figures under `reports/`.

    helix report [NAME ...] [--storage URL] [--out reports]     (make report [NAME=...])

load.py reads a study (journal file or database) into plain records and a DataFrame,
figures.py draws one PNG per figure, findings.py states each ablation against the study's
reference configuration (mean and spread over seeds) and tabulates every configuration,
markdown.py writes `reports/<NAME>/report.md` and
`reports/index.md`. The same study gives byte-identical files.
"""

from .load import StudyData, StudySource, UnknownStudyError, find_sources, load_study
from .markdown import make_reports, write_index, write_report

__all__ = ["StudyData", "StudySource", "UnknownStudyError", "find_sources", "load_study",
           "make_reports", "write_index", "write_report"]
