"""A phase's shares and budget -> tokens per source (cptpipe.mix.recipes)."""

from fractions import Fraction

import pytest

from cptpipe.errors import ParamsError
from cptpipe.mix.recipes import phase_shares, plan_phase
from cptpipe.params import MixParams, PhaseParams, parse_params

TRAIN = {"domain": 10_000, "qa": 300, "replay": 50_000, "instruct": 4_000}
MIX = MixParams(tokens=1000, qa_epochs=2.0, replay=0.06, instruct=0.02)


def test_replay_and_instruct_default_to_mix_and_own_sources_share_the_rest():
    assert phase_shares(PhaseParams(domain=1), MIX) == {
        "domain": Fraction(92, 100),
        "replay": Fraction(6, 100),
        "instruct": Fraction(2, 100),
    }
    shares = phase_shares(PhaseParams(domain=0.8, qa=0.2), MIX)
    assert shares["qa"] == Fraction(92, 100) * Fraction(2, 10) and sum(shares.values()) == 1
    assert phase_shares(PhaseParams(qa=1, replay=0, instruct=0), MIX) == {"qa": 1}


def test_documents_phase_splits_its_budget_exactly():
    plan = plan_phase("docs", PhaseParams(domain=1), MIX, TRAIN)
    assert plan.budgets == {"domain": 920, "replay": 60, "instruct": 20} and plan.interleave is None
    by_passes = plan_phase("docs", PhaseParams(domain=1, passes={"domain": 2}), MIX, TRAIN)
    assert by_passes.budgets["domain"] == 20_000 and by_passes.budget == "2 passes over domain"


def test_qa_mixed_into_documents_rides_on_top_in_its_own_stream():
    plan = plan_phase("docs_qa", PhaseParams(domain=0.8, qa=0.2), MIX, TRAIN)
    docs = sum(plan.budgets.values())
    assert docs == 1000 and "qa" not in plan.budgets  # mix.tokens: the documents stream
    assert plan.interleave == {"qa": round(1000 * 0.184 / 0.816)}


def test_qa_phase_carries_replay_and_instructions_by_default():
    """A QA phase keeps mix.replay of general text unless it sets replay: 0 (the seed's mix applies to
    all training): QA gets its mix.qa_epochs passes, the others their share relative to it."""
    plan = plan_phase("qa", PhaseParams(qa=1), MIX, TRAIN)
    assert plan.budgets["qa"] == 600
    assert plan.budgets["replay"] == round(600 * 6 / 92) and plan.budgets["instruct"] == round(600 * 2 / 92)
    assert plan_phase("qa", PhaseParams(qa=1, replay=0, instruct=0), MIX, TRAIN).budgets == {"qa": 600}
    closing = plan_phase("it", PhaseParams(instruct=0.94, passes={"instruct": 1}), MIX, TRAIN)
    assert closing.budgets == {"replay": round(4000 * 6 / 94), "instruct": 4000}


def test_validation_lists_every_recipe_problem_with_its_key():
    raw = {
        "train": {"recipe": "mine", "lr": 1e-3},
        "recipes": {
            "mine": {
                "phases": {
                    "a": {"qa": 1, "wiki": 0.5},
                    "b": {"domain": 1, "replay": 0.6, "instruct": 0.5},
                    "c": {"instruct": 0.5, "passes": {"instruct": 1}},
                    "d": {"domain": 1, "passes": {"qa": 1}},
                    "e": {"instruct": 1, "replay": 0},
                },
                "schedule": {"a": {"lr": 0.5}, "z": {"lr_scale": 0.5}},
            },
            "empty": {"phases": {}},
        },
    }
    with pytest.raises(ParamsError) as e:
        parse_params(raw)
    found = str(e.value)
    for expect in (
        "recipes.mine.phases.a.wiki: unknown key",
        "recipes.mine.phases.b: replay (0.6) + instruct (0.5) leave nothing",
        "recipes.mine.phases.c: a phase of replay and instructions only needs replay + instruct = 1",
        "recipes.mine.phases.d.passes: 'qa' has no share in this phase",
        "recipes.mine.phases.e: no budget",
        "recipes.mine.schedule.z: no phase of that name",
        "recipes.empty.phases: a recipe needs at least one phase",
    ):
        assert expect in found, found


def test_phase_lr_must_lie_in_the_start_kinds_range():
    raw = {"train": {"recipe": "r", "lr": 1e-3}, "recipes": {"r": {"phases": {"a": {"qa": 1}}}}}
    parse_params(raw)  # the scratch model's range holds 1e-3
    raw["recipes"]["r"]["schedule"] = {"a": {"lr": 0.5}}
    with pytest.raises(
        ParamsError, match=r"recipes.r.schedule.a: LR 0.5 \(recipe\) is outside the range for a scratch"
    ):
        parse_params(raw)
    raw["recipes"]["r"]["schedule"] = {"a": {"lr_scale": 0.5}}
    raw["model"] = {"name_or_path": "some/instruct-model", "kind": "instruct"}
    with pytest.raises(ParamsError, match=r"2e-05..0.0001"):  # 5e-4 is too high for an instruct model
        parse_params(raw)
    raw["train"]["lr_outside_range"] = True  # an LR study's arm runs it anyway
    assert parse_params(raw).recipes["r"].schedule["a"].lr_scale == 0.5
    raw["train"] = {"recipe": "r", "lr": 1e-4}
    assert parse_params(raw).train.lr == 1e-4
