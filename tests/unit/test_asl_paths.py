"""``python -m novita_local.asl_paths``: every path a state machine reads is guaranteed (AWS fails the
execution with an uncatchable ``States.Runtime`` where our local engine forgives a missing path)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from novita_local.asl_paths import check_definition, main, paths_in_intrinsic
from novita_local.template import PROJECT_ROOT

DEFINITIONS = sorted((PROJECT_ROOT / "statemachine").glob("*.asl.json"))


def project_definition() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (PROJECT_ROOT / "statemachine" / "start_instance.asl.json").read_text()
    )
    return loaded


def found(definition: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(p.state, p.field, p.path) for p in check_definition(definition)]


def machine(states: dict[str, Any], start: str = "A") -> dict[str, Any]:
    return {"StartAt": start, "States": states}


@pytest.mark.parametrize("path", DEFINITIONS, ids=lambda p: p.name)
def test_every_read_of_the_projects_state_machines_is_guaranteed(path: Path):
    assert DEFINITIONS, "no state machine definitions found"
    assert check_definition(json.loads(path.read_text())) == []


def test_a_planted_unguarded_path_is_named_with_the_way_in_that_lacks_it():
    definition = project_definition()
    # The completed notification goes straight to the event, skipping its IsPresent guard.
    definition["States"]["NotifyCompleted"]["Next"] = "PublishReadyEvent"

    problems = check_definition(definition)

    assert [(p.state, p.field, p.path) for p in problems] == [
        ("PublishReadyEvent", "Parameters.Entries[0].Detail.$", "$.finish.event")
    ]
    assert "entered from NotifyCompleted" in problems[0].reason


def test_a_planted_choice_without_is_present_is_named():
    definition = project_definition()
    rule = definition["States"]["ChoosePollOutcome"]["Choices"][0]
    rule["And"] = [c for c in rule["And"] if "IsPresent" not in c]

    assert found(definition) == [("ChoosePollOutcome", "Choices[0].And[0].Variable", "$.poll.outcome")]


def test_a_guard_counts_only_before_the_comparison_and_only_in_its_own_rule():
    states = {
        "A": {"Type": "Pass", "Next": "C"},
        "C": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.x", "StringEquals": "a"},
                        {"Variable": "$.x", "IsPresent": True},
                    ],
                    "Next": "Done",
                },
                {"Variable": "$.x", "StringEquals": "b", "Next": "Done"},
                {
                    "Or": [
                        {"Variable": "$.y", "IsPresent": True},
                        {"Variable": "$.y", "NumericGreaterThan": 1},
                    ],
                    "Next": "Done",
                },
                {"Not": {"Variable": "$.z", "IsNull": True}, "Next": "Done"},
            ],
            "Default": "Done",
        },
        "Done": {"Type": "Succeed"},
    }

    assert found(machine(states)) == [
        ("C", "Choices[0].And[0].Variable", "$.x"),
        ("C", "Choices[1].Variable", "$.x"),
        ("C", "Choices[2].Or[1].Variable", "$.y"),
        ("C", "Choices[3].Not.Variable", "$.z"),
    ]


def test_pass_results_and_choice_rules_guarantee_paths_but_a_task_result_only_its_root():
    states = {
        "A": {"Type": "Pass", "Result": {"n": 1, "inner": {"k": "v"}}, "ResultPath": "$.p", "Next": "T"},
        "T": {"Type": "Task", "Resource": "arn:fn", "ResultPath": "$.t", "Next": "Read"},
        "Read": {
            "Type": "Pass",
            "Parameters": {
                "n.$": "$.p.n",
                "k.$": "$.p.inner.k",
                "t.$": "$.t",
                "tField.$": "$.t.field",
                "name.$": "$$.Execution.Name",
                "format.$": "States.Format('{}-{}', $.p.n, $.missing)",
            },
            "Next": "Check",
        },
        "Check": {
            "Type": "Choice",
            "Choices": [{"And": [{"Variable": "$.t.field", "IsPresent": True}], "Next": "UseField"}],
            "Default": "Done",
        },
        "UseField": {"Type": "Wait", "SecondsPath": "$.t.field", "Next": "Done"},
        "Done": {"Type": "Succeed"},
    }

    assert found(machine(states)) == [
        ("Read", "Parameters.tField.$", "$.t.field"),
        ("Read", "Parameters.format.$", "$.missing"),
    ]


def test_a_catch_guarantees_error_but_not_cause_and_a_loop_keeps_only_what_every_way_in_has():
    states = {
        "A": {
            "Type": "Task",
            "Resource": "arn:fn",
            "ResultPath": "$.r",
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
            "Next": "Mark",
        },
        "Mark": {"Type": "Pass", "Result": {"Error": "E"}, "ResultPath": "$.error", "Next": "Loop"},
        "Loop": {"Type": "Wait", "Seconds": 1, "Next": "Use"},
        "Use": {
            "Type": "Pass",
            "Parameters": {"r.$": "$.r", "e.$": "$.error.Error"},
            "ResultPath": "$.r",
            "Next": "Again",
        },
        "Again": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.r", "IsPresent": True, "Next": "Failed"}],
            "Default": "Loop",
        },
        "Failed": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
    }

    # $.error.Error: set by the Catch and by Mark; $.error.Cause: neither; $.r: on every way round the loop.
    assert found(machine(states)) == [("Failed", "CausePath", "$.error.Cause")]


def test_the_execution_input_is_not_trusted_and_input_output_paths_reroot():
    states = {
        "A": {"Type": "Pass", "Parameters": {"id.$": "$.operationId"}, "Next": "B"},
        "B": {
            "Type": "Pass",
            "Result": {"x": {"y": 1}},
            "ResultPath": "$.r",
            "OutputPath": "$.r",
            "Next": "C",
        },
        "C": {"Type": "Pass", "InputPath": "$.x", "Parameters": {"y.$": "$.y", "z.$": "$.z"}, "Next": "D"},
        "D": {"Type": "Pass", "OutputPath": "$.gone", "End": True},
    }

    problems = check_definition(machine(states))

    assert [(p.state, p.field, p.path) for p in problems] == [
        ("A", "Parameters.id.$", "$.operationId"),
        ("C", "Parameters.z.$", "$.z"),
        ("D", "OutputPath", "$.gone"),
    ]
    assert "execution input" in problems[0].reason


def test_parallel_branches_and_map_iterators_are_checked_with_what_they_are_given():
    states = {
        "A": {"Type": "Pass", "Result": {"items": [1, 2]}, "ResultPath": "$.p", "Next": "Par"},
        "Par": {
            "Type": "Parallel",
            "Parameters": {"items.$": "$.p.items"},
            "Branches": [
                {
                    "StartAt": "InBranch",
                    "States": {
                        "InBranch": {
                            "Type": "Pass",
                            "Parameters": {"i.$": "$.items", "q.$": "$.p"},
                            "End": True,
                        }
                    },
                }
            ],
            "ResultPath": "$.par",
            "Next": "Map",
        },
        "Map": {
            "Type": "Map",
            "ItemsPath": "$.p.items",
            "ItemProcessor": {
                "StartAt": "Item",
                "States": {"Item": {"Type": "Pass", "Parameters": {"v.$": "$.value"}, "End": True}},
            },
            "End": True,
        },
    }

    assert found(machine(states)) == [
        ("InBranch", "Parameters.q.$", "$.p"),
        ("Item", "Parameters.v.$", "$.value"),
    ]


def test_paths_inside_intrinsic_functions_are_found_outside_their_string_literals():
    expression = "States.Format('a $.not.a.path {}', States.JsonToString($.x.y), $$.Execution.Name)"

    assert paths_in_intrinsic(expression) == ["$.x.y", "$$.Execution.Name"]


def test_the_command_exits_1_naming_file_state_and_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    definition = copy.deepcopy(project_definition())
    definition["States"]["ChooseReadyEvent"]["Default"] = "PublishReadyEvent"
    bad = tmp_path / "bad.asl.json"
    bad.write_text(json.dumps(definition))
    broken = tmp_path / "broken.asl.json"
    broken.write_text("{")

    assert main([str(DEFINITIONS[0])]) == 0
    assert main([str(bad), str(broken)]) == 1

    err = capsys.readouterr().err
    assert f"{bad}: PublishReadyEvent: Parameters.Entries[0].Detail.$ reads $.finish.event" in err
    assert f"{broken}: cannot check:" in err
