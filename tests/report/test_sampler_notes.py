"""The report's first screen lists what the sampler had to do (issue 12); no MCMC."""

from __future__ import annotations

import json

import pytest
import xarray as xr

from spinefit.report.html import sampler_notes
from spinefit.report.sections import render_page

pytestmark = pytest.mark.fast


def result_with(**attrs) -> xr.DataTree:
    tree = xr.DataTree()
    tree.attrs.update({"sampler_settings": json.dumps({"draws": 1000, "chains": 4})} | attrs)
    return tree


def first_screen(notes: list[str]) -> str:
    page = render_page("t", "s", [], warnings=["R-hat 1.05"], sampler_notes=notes)
    return page[: page.index('<nav class="toc"')]


def test_recorded_notes_restarts_and_draws_are_listed_near_the_status():
    tree = result_with(
        sampling_notes=json.dumps(["chain 2 sat in a low-density mode; re-ran it"]),
        restarted_chains=json.dumps([2]),
        sampling_draws=1400,
    )
    notes = sampler_notes(tree)
    assert notes == [
        "chain 2 sat in a low-density mode; re-ran it",
        "chains re-run from a new start: 2",
        "draws per chain in the result: 1400 (1000 requested)",
    ]
    top = first_screen(notes)
    assert top.index("Warning: ") < top.index("Sampler notes")
    assert "<li>chains re-run from a new start: 2</li>" in top
    assert top.count("<li>") == 3


def test_draws_alone_are_listed_when_they_differ_from_the_request():
    notes = sampler_notes(result_with(sampling_notes="[]", sampling_draws=1200))
    assert notes == ["draws per chain in the result: 1200 (1000 requested)"]


def test_nothing_is_shown_when_the_sampler_needed_no_help():
    quiet = result_with(sampling_notes="[]", restarted_chains="[]", sampling_draws=1000)
    assert sampler_notes(quiet) == []
    assert sampler_notes(result_with()) == []  # saved before the notes were recorded
    assert "Sampler notes" not in first_screen([])
