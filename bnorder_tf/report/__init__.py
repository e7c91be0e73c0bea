"""The paper's tables and figures from run and tuning directories.

    python -m bnorder_tf.report runs/ tuning_runs/search --out report/

writes `report.md`, a self-contained `report.html` (figures embedded) and
the figures as PNG files. Runs are grouped by their `flags.txt`: runs that
differ only in the seed (or paths, or distribution) are the seeds of one
setting.

`tanh_skewness_grid` (figure 12) needs no runs at all.

One job per module: `build` (`build_report`), `runs` (reading and
grouping run directories), `accuracy`, `pairs`, `depth` and `figure15`
(their tables), `claims` and `verdicts` (the paper's claims checked),
`significance` (the tests), `table_sections` and `figure_sections` (what
the report holds), `figures` (drawing), `document` (Markdown and HTML)
and `analytic` (figure 12). Besides `__all__`, the names imported as
themselves stay importable from here, where they used to be.
"""

from bnorder_tf.errors import ConfigError as ConfigError
from bnorder_tf.report import figures as figures
from bnorder_tf.report import verdicts as verdicts
from bnorder_tf.report.accuracy import accuracy_rows, accuracy_table
from bnorder_tf.report.analytic import tanh_skewness_grid
from bnorder_tf.report.build import DEFAULT_TITLE as DEFAULT_TITLE
from bnorder_tf.report.build import REPORT_HTML as REPORT_HTML
from bnorder_tf.report.build import REPORT_MD as REPORT_MD
from bnorder_tf.report.build import build_report
from bnorder_tf.report.claims import SKEWNESS_ACCURACY as SKEWNESS_ACCURACY
from bnorder_tf.report.claims import check_claims as check_claims
from bnorder_tf.report.claims import claims_table as claims_table
from bnorder_tf.report.claims import is_bounded as is_bounded
from bnorder_tf.report.depth import PAPER_BEST_DEPTH as PAPER_BEST_DEPTH
from bnorder_tf.report.depth import DepthStudy as DepthStudy
from bnorder_tf.report.depth import check_depth_claims as check_depth_claims
from bnorder_tf.report.depth import depth_table as depth_table
from bnorder_tf.report.document import Document as Document
from bnorder_tf.report.document import Section as Section
from bnorder_tf.report.document import Table as Table
from bnorder_tf.report.document import read_notes as read_notes
from bnorder_tf.report.document import to_html as to_html
from bnorder_tf.report.document import to_markdown as to_markdown
from bnorder_tf.report.figure15 import (
    check_figure15_claims as check_figure15_claims,
)
from bnorder_tf.report.figure15 import figure15_figure as figure15_figure
from bnorder_tf.report.figure15 import figure15_table as figure15_table
from bnorder_tf.report.figure_sections import (
    PER_LAYER_FIGURES as PER_LAYER_FIGURES,
)
from bnorder_tf.report.pairs import gap_table as gap_table
from bnorder_tf.report.pairs import order_pairs as order_pairs
from bnorder_tf.report.runs import MAIN_SETTINGS as MAIN_SETTINGS
from bnorder_tf.report.runs import NotARunError
from bnorder_tf.report.runs import find_runs as find_runs
from bnorder_tf.report.runs import group_runs as group_runs
from bnorder_tf.report.runs import varying_settings as varying_settings
from bnorder_tf.stats.results import MODEL_KEYS as MODEL_KEYS
from bnorder_tf.training.run_dir import final_accuracy as final_accuracy

__all__ = [
    "NotARunError",
    "accuracy_rows",
    "accuracy_table",
    "build_report",
    "tanh_skewness_grid",
]
