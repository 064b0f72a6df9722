"""The documentation site (mkdocs.yml, docs/): it builds in strict mode, and every Python example on its
pages runs (a page's examples in order, in one namespace)."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md"))
EXAMPLE = re.compile(r"^( *)```python\n(.*?)^\1```", re.S | re.M)


def examples(page: Path) -> list[str]:
    """The Python code blocks of a page, dedented (a block inside a list item is indented)."""
    return [textwrap.dedent(code) for _, code in EXAMPLE.findall(page.read_text())]


def test_every_page_with_examples_is_found():
    with_code = {p.name for p in PAGES if examples(p)}
    assert {"index.md", "arithmetic.md", "accumulators.md", "tensor_cores.md", "blocks.md"} <= with_code


@pytest.mark.parametrize("page", [p for p in PAGES if examples(p)], ids=lambda p: p.name)
def test_examples_run(page, capsys):
    namespace = {"__name__": f"docs_{page.stem}"}
    for i, code in enumerate(examples(page)):
        exec(compile(code, f"{page.name}[example {i}]", "exec"), namespace)   # noqa: S102 - our own docs


def test_site_builds_in_strict_mode(tmp_path):
    """``mkdocs build --strict``: no broken link, no missing page, every API docstring parses."""
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "site" / "api" / "index.html").is_file()
    assert "to_ml_dtypes" in (tmp_path / "site" / "api" / "index.html").read_text()
