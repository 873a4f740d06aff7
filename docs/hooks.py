"""mkdocs hook: pages generated at build time from their one owner, so the site never drifts.

- params.md: `cptpipe.params_doc.render` (params.yaml's values and comments, the schema's types and bounds);
- architecture.md: ARCHITECTURE.md at the repository root.
"""

from pathlib import Path

from mkdocs.structure.files import File

from cptpipe.params_doc import render

ROOT = Path(__file__).resolve().parents[1]


def on_files(files, config):
    files.append(File.generated(config, "params.md", content=render(ROOT / "params.yaml")))
    architecture = (ROOT / "ARCHITECTURE.md").read_text()
    files.append(File.generated(config, "architecture.md", content=architecture))
    return files
