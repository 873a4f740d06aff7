"""`cptpipe sweep`: choose mix ratios and learning rates by measurement.

A sweep file (study/sweep.yaml) names params keys and their values (a full grid) or ranges (a
seeded random or Latin-hypercube sample). Every point runs once per seed as a named, queued
`dvc exp run` through `cptpipe.runner` (finished experiments on this commit are reused), and is
read back from `dvc exp show --json`. Each point is then placed by its forgetting (x, lower is
better) and absorption (y, higher is better): the Pareto front is the set no other point beats on
both, and the recommended setting is the front member that absorbs most while its forgetting stays
within the budget (`max_forgetting`). Extra arms (`extra`: named settings beside the grid, such as
another schedule) run and are read the same way, but stay off the front: they are compared with the
recommended point instead, so a setting the grid cannot express is judged against the grid's best.

spec.py reads the sweep file, analysis.py reads the results, report.py writes the markdown and the figure.
"""

from cptpipe.sweep.analysis import (
    Reading,
    axis_fits,
    compare_to_best,
    crossing,
    dominators,
    monotone_fit,
    pareto_front,
    read_sweep,
    recommend,
)
from cptpipe.sweep.report import plot, render, repetition_note, run_sweep
from cptpipe.sweep.spec import (
    SAMPLE_METHODS,
    SPEC_KEYS,
    Sweep,
    as_grid,
    load_sweep,
    point_name,
    sample_points,
    with_complements,
)

__all__ = [
    "SAMPLE_METHODS",
    "SPEC_KEYS",
    "Reading",
    "Sweep",
    "as_grid",
    "axis_fits",
    "compare_to_best",
    "crossing",
    "dominators",
    "load_sweep",
    "monotone_fit",
    "pareto_front",
    "plot",
    "point_name",
    "read_sweep",
    "recommend",
    "render",
    "repetition_note",
    "run_sweep",
    "sample_points",
    "with_complements",
]
