"""DVC stage `qa`: ingest shards (--shards) -> QA pairs {train,heldout}.parquet (--out) + a report JSON (--report)."""

import argparse

from cptpipe.cli import run_stage, stage_parser
from cptpipe.data.documents import read_documents
from cptpipe.data.engine import cluster_engine
from cptpipe.io import write_json
from cptpipe.params import load_params
from cptpipe.qa.generate import build_qa, write_qa
from cptpipe.timings import split_timings, write_timings

ARGS = stage_parser(
    __doc__,
    shards="the ingest stage's shards",
    out="folder for train.parquet and heldout.parquet",
    report="pair counts by type and split (JSON)",
)


def main(args: argparse.Namespace) -> str:
    params = load_params()
    docs = read_documents(args.shards)
    # ingest.engine: ray mines the rules generator's pairs as tasks (same rows as local)
    with cluster_engine(params.ingest) as engine:
        rows, report = build_qa(docs, params.qa, params.seed, engine=engine)
    write_qa(rows, args.out)
    tracked, timings = split_timings(report, ("seconds",))  # wall-clock: not part of the tracked report
    write_json(args.report, tracked)
    write_timings("qa", timings)
    return (
        f"{report['pairs']} pairs ({report['pairs_per_doc']}/doc, {report['paraphrase_rows']} paraphrases), "
        f"by split {report['by_split']}, {report['seconds']} s"
    )


if __name__ == "__main__":
    args = ARGS.parse_args()
    run_stage("qa", lambda: main(args))
