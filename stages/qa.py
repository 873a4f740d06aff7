"""DVC stage `qa`: data/shards -> data/qa/{train,heldout}.parquet + reports/qa.json."""

from pathlib import Path

from cptpipe.cli import run_stage
from cptpipe.data.ingest import read_documents
from cptpipe.io import write_json
from cptpipe.params import load_params
from cptpipe.qa.build import build_qa, write_qa


def main() -> str:
    params = load_params()
    docs = read_documents(Path("data/shards"))
    rows, report = build_qa(docs, params.qa, params.seed)
    write_qa(rows, "data/qa")
    write_json("reports/qa.json", report)
    return (
        f"{report['pairs']} pairs ({report['pairs_per_doc']}/doc, {report['paraphrase_rows']} paraphrases), "
        f"by split {report['by_split']}, {report['seconds']} s"
    )


if __name__ == "__main__":
    run_stage("qa", main)
