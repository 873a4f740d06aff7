"""Build the technical-prose samples (data/samples/{manpages,licenses}/) from installed Debian packages.

Two real, freely licensed corpora of different genres, used by tests to check that ingest keeps a
user's documentation and that the rules QA generator mines it (issue 14):

* ``manpages``/``manpages-dev`` 6.03-2 (Debian 12) -- Linux man-pages project, reference pages in
  roff under ``usr/share/man/man{2,3,5,7}``. Each page names its license in an
  ``SPDX-License-Identifier`` comment, recorded in ``manpages.sources.tsv``; only pages under
  licenses that allow redistribution of modified copies are taken (see LICENSES_OK).
  Rendered to plain text here by a small roff reader (no groff needed): headings stay on lines
  of their own in capitals (NAME, DESCRIPTION, RETURN VALUE), the way ``man`` prints them.
* ``base-files`` 12.4+deb12u11 (Debian 12) -- license texts under ``usr/share/common-licenses``: legal
  text with numbered clauses. One version per license family is taken (LGPL-2 and 2.1, or GFDL
  1.2 and 1.3, are near-duplicates that ingest's dedup rightly drops). The license texts
  themselves may be copied verbatim (each says so).

Rerun on a Debian machine with those packages installed, or point --root at a folder where the
.deb files were unpacked with ``dpkg-deb -x``:

    python data/samples/build.py [--root /]

Deterministic: fixed page lists, sorted reads, no randomness.
"""

from __future__ import annotations

import argparse
import gzip
import re
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
MAN_PAGES = [  # reference pages of different shapes: functions, system calls, file formats, overviews
    "man2/alarm.2",
    "man2/chdir.2",
    "man2/dup.2",
    "man2/getpid.2",
    "man2/nice.2",
    "man2/pipe.2",
    "man2/sync.2",
    "man2/umask.2",
    "man2/unlink.2",
    "man3/abs.3",
    "man3/atoi.3",
    "man3/bsearch.3",
    "man3/ctime.3",
    "man3/exit.3",
    "man3/fclose.3",
    "man3/getenv.3",
    "man3/isalpha.3",
    "man3/malloc.3",
    "man3/memcpy.3",
    "man3/qsort.3",
    "man3/rand.3",
    "man3/sleep.3",
    "man3/strcpy.3",
    "man3/strtol.3",
    "man5/hosts.5",
    "man5/shells.5",
    "man5/motd.5",
    "man7/hier.7",
    "man7/pipe.7",
    "man7/signal.7",
]
LICENSES_OK = {
    "Linux-man-pages-copyleft",
    "GPL-2.0-or-later",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BSD-4-Clause-UC",
    "MIT",
    "Linux-man-pages-copyleft-var",
    "GPL-2.0-only",
    "Linux-man-pages-1-para",
    "Linux-man-pages-copyleft-2-para",
    "LicenseRef-Kerrisk-GPL",
}
LICENSE_TEXTS = [
    "Apache-2.0",
    "Artistic",
    "BSD",
    "CC0-1.0",
    "GFDL-1.3",
    "GPL-1",
    "GPL-2",
    "GPL-3",
    "LGPL-2.1",
    "LGPL-3",
    "MPL-1.1",
    "MPL-2.0",
]

# roff escapes -> text; anything else of the form \x is dropped
_NAMED = {
    "em": "—",
    "en": "–",
    "aq": "'",
    "dq": '"',
    "lq": "“",
    "rq": "”",
    "oq": "‘",
    "cq": "’",
    "bu": "•",
    "co": "©",
    "rg": "®",
    "tm": "™",
    "mu": "×",
    "<=": "<=",
    ">=": ">=",
    "!=": "!=",
    "->": "->",
    "hy": "-",
    "ti": "~",
    "ha": "^",
    "rs": "\\",
    "ga": "`",
    "lh": "<=",
    "rh": "=>",
    "pl": "+",
    "mi": "-",
    "eq": "=",
    "sl": "/",
    "ba": "|",
    "br": "|",
    "de": "°",
    "+-": "±",
}
_ESC = re.compile(
    r"\\(?:f(?:\[[^\]]*\]|\(..|.)|\((..)|\[([^\]]+)\]|\*(?:\((..)|\[([^\]]+)\]|(.))|"
    r"([-e&%|^:c ~0]))|\\s[+-]?\d|\\[kz]"
)
_FONT_MACROS = {"B", "I", "R", "SM", "SB"}
_ALT_MACROS = {"BR", "RB", "IR", "RI", "BI", "IB"}
_BREAKS = {
    "PP",
    "P",
    "LP",
    "sp",
    "IP",
    "TP",
    "TQ",
    "HP",
    "SS",
    "SH",
    "RS",
    "RE",
    "br",
    "nf",
    "fi",
    "EX",
    "EE",
    "in",
    "TS",
    "TE",
    "UR",
    "UE",
    "MT",
    "ME",
}


def _unescape(s: str) -> str:
    def sub(m: re.Match) -> str:
        if m.group(0).startswith("\\f") or m.group(0).startswith(("\\s", "\\k", "\\z")):
            return ""
        name = m.group(1) or m.group(2) or m.group(3) or m.group(4) or m.group(5)
        if name:
            return _NAMED.get(name, "")
        ch = m.group(6)
        return {"-": "-", "e": "\\", " ": " ", "~": " ", "0": " "}.get(ch, "")

    return _ESC.sub(sub, s)


def _args(rest: str) -> list[str]:
    return [a[1:-1] if a.startswith('"') else a for a in re.findall(r'"[^"]*"|\S+', rest)]


def roff_to_text(src: str) -> str:
    """Plain text of a man(7) page: capitalised headings on their own lines, filled paragraphs
    joined into one line each, no-fill blocks (synopses, examples) kept line by line."""
    out: list[str] = []  # finished blocks
    para: list[str] = []
    fill = True
    table = False
    title = ""
    tag = False  # after .TP the next line is a tag, printed on a line of its own above its body

    def flush() -> None:
        if para:
            text = (" ".join(para) if fill else "\n".join(para)).strip()
            if out and out[-1].endswith("\x00"):  # a tag and its body form one block
                out[-1] = out[-1][:-1] + "\n" + text
            else:
                out.append(text)
            para.clear()

    def add(text: str) -> None:
        nonlocal tag
        para.append(text)
        if tag:
            flush()
            out[-1] += "\x00"
            tag = False

    for raw in src.splitlines():
        if raw.startswith(('.\\"', "'\\\"", '\\"')):
            continue
        if raw.startswith((".", "'")):
            m = re.match(r"[.'] *(\S+)\s*(.*)", raw)
            if not m:
                continue
            mac, rest = m.group(1), m.group(2)
            if mac == "TH":
                a = _args(rest)
                title = f"{a[0]}({a[1]})" if len(a) > 1 else (a[0] if a else "")
                continue
            if mac == "TS":
                table = True
            if mac == "TE":
                table = False
            if mac in _BREAKS:
                flush()
                if mac in ("nf", "EX"):
                    fill = False
                elif mac in ("fi", "EE"):
                    fill = True
                tag = mac in ("TP", "TQ")
                if mac in ("SH", "SS") and rest:
                    out.append(
                        _unescape(" ".join(_args(rest))).upper() if mac == "SH" else _unescape(" ".join(_args(rest)))
                    )
                elif mac == "IP" and rest:
                    tag = _unescape(_args(rest)[0])
                    if tag not in ("", "*", "\\(bu", "•"):
                        para.append(tag)
                continue
            if mac in _FONT_MACROS:
                add(_unescape(" ".join(_args(rest))))
            elif mac in _ALT_MACROS:
                add(_unescape("".join(_args(rest))))
            continue  # other requests (.ad, .hy, .ft, .ne, .PD ...) carry no text
        if table:
            if raw.rstrip().endswith(".") or not raw.strip() or re.fullmatch(r"[a-zA-Z0-9 |.;,()]+\.?", raw):
                continue  # tbl format lines
            raw = raw.replace("\t", " ").replace("T{", "").replace("T}", "")
        text = _unescape(raw)
        if text.strip() or not fill:
            add(text if not fill else text.strip())
        else:
            flush()
    flush()
    body = "\n\n".join(b.rstrip("\x00") for b in out if b)
    return f"{title}\n\n{body}\n" if title else body + "\n"


def spdx_of(src: str) -> str:
    m = re.search(r"SPDX-License-Identifier:\s*(.+)", src)
    return m.group(1).strip() if m else "unknown"


def build_manpages(root: Path, out: Path) -> list[tuple[str, str, str]]:
    rows = []
    for rel in MAN_PAGES:
        src = gzip.decompress((root / "usr/share/man" / (rel + ".gz")).read_bytes()).decode("utf-8")
        lic = spdx_of(src)
        if lic not in LICENSES_OK:
            raise SystemExit(f"{rel}: license {lic} is not in LICENSES_OK; pick another page")
        name = rel.split("/")[1]
        (out / f"{name}.txt").write_text(roff_to_text(src))
        rows.append((f"{name}.txt", f"usr/share/man/{rel}.gz", lic))
    return rows


def build_licenses(root: Path, out: Path) -> list[tuple[str, str, str]]:
    rows = []
    for name in LICENSE_TEXTS:
        src = root / "usr/share/common-licenses" / name
        shutil.copyfile(src, out / f"{name}.txt")
        rows.append((f"{name}.txt", f"usr/share/common-licenses/{name}", f"{name} (verbatim copying permitted)"))
    return rows


def write_sources(path: Path, rows: list[tuple[str, str, str]]) -> None:
    # beside the folder, not in it: ingest would report a .tsv inside as an unknown extension
    lines = ["file\tpackage path\tlicense"] + ["\t".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=Path("/"), help="filesystem root holding usr/share (default /)")
    args = ap.parse_args()
    for name, build in (("manpages", build_manpages), ("licenses", build_licenses)):
        out = HERE / name
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        rows = build(args.root, out)
        write_sources(HERE / f"{name}.sources.tsv", rows)
        size = sum(p.stat().st_size for p in out.iterdir())
        print(f"{name}: {len(rows)} documents, {size / 1e3:.0f} KB -> {out}")


if __name__ == "__main__":
    main()
