"""DVC stage `report`: reports/** -> reports/metrics.json, reports/report.md, reports/plots/*.png."""

from pathlib import Path

from cptpipe.cli import run_stage
from cptpipe.io import write_json, write_text
from cptpipe.params import load_params
from cptpipe.report.build import build_report


def main() -> str:
    ev = load_params().eval  # the whole file is validated first
    setup = {"backend": ev.backend, "model_args": ev.model_args, "batch_size": ev.batch_size}
    metrics, md = build_report(Path("reports"), Path("reports/plots"), Path("models/cpt"), setup)
    write_json("reports/metrics.json", metrics)
    write_text("reports/report.md", md)
    a, f = metrics["absorption"], metrics["forgetting"]
    return f"absorption {a}, forgetting {f}"


if __name__ == "__main__":
    run_stage("report", main)
