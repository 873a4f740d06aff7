"""DVC stage `qa`: data/shards -> data/qa/{train,heldout}.parquet + reports/qa.json."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cptpipe.cli import run_stage
from cptpipe.data.ingest import read_documents
from cptpipe.io import atomic_dir, write_json
from cptpipe.params import load_params
from cptpipe.qa.build import QA_SCHEMA, build_qa


def main() -> str:
    params = load_params()
    docs = read_documents(Path("data/shards"))
    rows, report = build_qa(docs, params.qa, params.seed)
    with atomic_dir("data/qa") as tmp:
        for split in ("train", "heldout"):
            part = [r for r in rows if r["split"] == split]
            pq.write_table(pa.Table.from_pylist(part, schema=QA_SCHEMA), tmp / f"{split}.parquet")
    write_json("reports/qa.json", report)
    return f"{report['pairs']} pairs ({report['pairs_per_doc']}/doc), by split {report['by_split']}"


if __name__ == "__main__":
    run_stage("qa", main)
