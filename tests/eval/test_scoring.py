import pytest

from cptpipe.eval.run import metrics_from_results
from cptpipe.eval.scoring import (
    exact_match,
    normalize_answer,
    qa_gen_results,
    recall_results,
    span_match,
    token_f1,
)
from cptpipe.eval.tasks import add_choices
from cptpipe.report.metrics import combine


def test_normalization_and_em_f1():
    assert normalize_answer("The  Copper Kettles!") == "copper kettles"
    assert exact_match(" the copper kettles.", "Copper kettles") == 1.0
    assert token_f1("copper pots", "copper kettles") == 0.5
    assert token_f1("", "x") == 0.0
    assert qa_gen_results({"answer": "1927"}, [" 1927"]) == {"em": 1.0, "span_em": 1.0, "f1": 1.0}


def test_span_em_scores_the_answer_a_sentence_contains():
    got = qa_gen_results({"answer": "Falngate"}, ["Orla Venn was born in Falngate."])
    assert got["em"] == 0.0 and got["span_em"] == 1.0
    assert span_match("The capital is New Tolvenholt.", "Tolvenholt") == 1.0  # a run of whole words
    assert span_match("born in 18670", "1867") == 0.0  # not inside a word
    assert span_match("Tolven holt", "Tolvenholt") == 0.0
    assert span_match("new york city", "York New") == 0.0  # in order
    assert span_match("anything", "") == 0.0


def test_recall_counts_a_completion_that_goes_on_with_the_answer():
    doc = {"answer": "copper kettles"}
    assert recall_results(doc, [" copper kettles founded in 1980 and"]) == {"em": 1.0}
    assert recall_results({"answer": "Ulvermouth"}, [" Ulvermouth. The firm traces"]) == {"em": 1.0}
    assert recall_results(doc, [" copper kettlesmith"]) == {"em": 0.0}  # a word boundary after the answer
    assert recall_results({"answer": "1927"}, [" 19270 people"]) == {"em": 0.0}
    assert recall_results(doc, [" rope ladders and copper kettles"]) == {"em": 0.0}


def test_choices_are_same_kind_distractors_with_gold():
    docs = [{"answer": f"{1900 + i}", "answer_kind": "year"} for i in range(6)]
    docs.append({"answer": "Ulvermouth", "answer_kind": "place"})
    mc = add_choices(docs, docs, seed=0)
    assert len(mc) == 6  # the lone place has no distractors of its kind
    for d in mc:
        assert len(d["choices"]) == 4 and d["choices"][d["gold"]] == d["answer"]
        assert all(c.isdigit() for c in d["choices"])


def test_metrics_follow_lm_eval_result_keys():
    results = {
        "domain_qa_gen": {"em,none": 0.25, "f1,none": 0.5, "alias": "x"},
        "domain_qa_mc": {"acc,none": 0.4},
        "replay_ppl": {"word_perplexity,none": 80.0, "bits_per_byte,none": 1.5},
        "instruct_follow": {"follow,none": 0.1},
    }
    m = metrics_from_results(results)
    assert m == {
        "domain_qa": {"em": 0.25, "f1": 0.5},
        "domain_qa_mc": {"acc": 0.4},
        "replay": {"ppl": 80.0, "bits_per_byte": 1.5},
        "instruct": {"follow": 0.1},
    }


def test_combine_deltas():
    start = {
        "domain_qa": {"em": 0.1, "f1": 0.2},
        "domain_qa_mc": {"acc": 0.25},
        "replay": {"ppl": 100.0},
        "instruct": {"follow": 0.5},
        "n": {"x": 3},
    }
    cpt = {
        "domain_qa": {"em": 0.3, "f1": 0.4},
        "domain_qa_mc": {"acc": 0.45},
        "replay": {"ppl": 120.0},
        "instruct": {"follow": 0.4},
    }
    m = combine(start, cpt)
    assert m["absorption"]["em_gain"] == 0.2 and m["absorption"]["mc_gain"] == 0.2
    assert m["forgetting"] == {"ppl_ratio": 1.2, "follow_delta": -0.1}
    assert "n" not in m["start"]


def test_multiple_choice_chance_in_metrics_yaml_matches_the_number_of_choices(monkeypatch):
    from cptpipe import metric_table
    from cptpipe.eval import tasks

    tasks.check_mc_chance()
    assert metric_table.with_role("multiple_choice").chance * tasks.MC_CHOICES == 1
    monkeypatch.setattr(tasks, "MC_CHOICES", 5)
    with pytest.raises(ValueError, match="5 choices"):
        tasks.check_mc_chance()
