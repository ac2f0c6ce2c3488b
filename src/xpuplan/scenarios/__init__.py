"""``xpuplan scenarios``: the seed questions of issue 18 answered by the model, as one Markdown page.

Each section (a :class:`~xpuplan.scenarios.calls.Section`) runs a few small commands through
:func:`xpuplan.api.run` — so the ``xpuplan ...`` lines it prints give exactly its numbers — and writes tables, the
commands, the warnings its results carry (low-confidence chip figures) and its headline numbers, each against a
published anchor where one exists (DeepSeek-V3's GPU-hours, Llama 3's interruptions, GPT-3's compute). Searches are
kept small (``--top 1``, one device count each) so the page regenerates in about a minute on two cores.

* :mod:`.training` — TeleChat3 on 10k 910B vs H800; DeepSeek-V3's 2.664M GPU-hours; a 1T model on six chips
* :mod:`.pangu` — Pangu Ultra MoE's published MFU on 6K Ascend 910B against the model
* :mod:`.serving` — domestic vs NVIDIA mid-range at equal SLO; 50,000 Tiangai 150 in H20 / 910B
* :mod:`.scaling` — MFU against scale-up domain size; GPT-3 -> GPT-4 -> 10T
* :mod:`.failures` — a months-long run's MTBF, goodput and cost per interruption
* :mod:`.page` — the Markdown page and the HTML plots
"""

from __future__ import annotations

from pathlib import Path

from ..errors import BadInput
from . import failures, pangu, scaling, serving, training
from .page import markdown, write_html

SECTIONS = (training.telechat, training.deepseek_v3, pangu.pangu_ultra_moe, training.one_trillion, serving.serving, scaling.domain_size,
            failures.months_long_run, scaling.gpt_ladder)
"""the sections in page order, each a function returning its Section"""


def run(out: str = "docs/scenarios.md", progress=None) -> dict:
    """Answer every seed question, write ``out`` (Markdown) and the plots beside it (same name, ``.html``); return the
    headline numbers by section."""
    path = Path(out).expanduser()
    if path.suffix.lower() != ".md":
        raise BadInput(f"--out {out}: the page is Markdown; give a file name ending in .md", "out")
    if not path.resolve().parent.is_dir():
        raise BadInput(f"--out {out}: folder {path.resolve().parent} does not exist; create it or write elsewhere",
                       "out")
    plots = path.with_suffix(".html")
    sections = []
    for make in SECTIONS:
        if progress:
            progress(make.__name__.replace("_", " "))
        sections.append(make())
    path.write_text(markdown(sections, str(out), plots.name))
    write_html(sections, plots)
    return {"out": str(path), "plots": str(plots),
            "sections": {s.key: {"title": s.title, "headline": s.headline, "commands": s.commands,
                                 "warnings": s.warnings} for s in sections}}
