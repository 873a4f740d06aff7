"""DVC stage `report`: reports/** -> reports/metrics.json, reports/report.md, reports/plots/*.png."""

from pathlib import Path

from cptpipe.cli import run_stage
from cptpipe.io import write_json, write_text
from cptpipe.params import load_params
from cptpipe.report.build import build_report


def main() -> str:
    load_params()  # validate the whole file first; the report reads only what the stages wrote
    metrics, md = build_report(Path("reports"), Path("reports/plots"))
    write_json("reports/metrics.json", metrics)
    write_text("reports/report.md", md)
    a, f = metrics["absorption"], metrics["forgetting"]
    return f"absorption {a}, forgetting {f}"


if __name__ == "__main__":
    run_stage("report", main)
