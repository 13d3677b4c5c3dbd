"""template.yaml is the single source of truth: it must parse and describe what the code expects."""

from __future__ import annotations

from novita_local.template import load_template, resources_of_type


def test_template_parses_with_intrinsic_tags() -> None:
    template = load_template()
    layer = template["Resources"]["SharedLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/shared/"
    assert template["Globals"]["Function"]["Runtime"] == "python3.12"
    assert template["Globals"]["Function"]["Architectures"] == ["arm64"]
    assert layer["Properties"]["LayerName"] == {"Fn::Sub": "${AWS::StackName}-shared"}


def test_every_table_has_on_demand_billing() -> None:
    for logical_id, table in resources_of_type(load_template(), "AWS::DynamoDB::Table").items():
        assert table["Properties"].get("BillingMode") == "PAY_PER_REQUEST", logical_id
