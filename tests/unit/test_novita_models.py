"""Novita models: tolerant of strings and unknown fields, and holding no secrets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from novita_orchestrator.novita.models import (
    CreateInstanceRequest,
    Instance,
    InstanceSummary,
    Product,
    RegistryAuth,
    Template,
)

GET_INSTANCE = {
    "id": "inst-1",
    "name": "dev-box",
    "status": "running",
    "statusError": {"state": "", "message": ""},
    "clusterId": "cl-1",
    "productId": "prod-1",
    "productName": "RTX 4090 24GB",
    "imageUrl": "pytorch/pytorch:2.4",
    "imageAuthId": "auth-1",
    "cpuNum": "16",
    "memory": "62",
    "gpuNum": "2",
    "rootfsSize": "60",
    "portMappings": [
        {"port": "8888", "type": "http", "endpoint": "https://inst-1-8888.us-ca-1.gpu-instance.novita.ai"},
        {"port": 22, "type": "tcp", "endpoint": "proxy.us-ca-1.gpu-instance.novita.ai:32787"},
    ],
    "envs": [{"key": "JUPYTER_TOKEN", "value": "tok-123456"}, {"key": "EPOCHS", "value": "10"}],
    "connectComponentSSH": {
        "sshCommand": "ssh -p 32787 root@proxy.us-ca-1.gpu-instance.novita.ai",
        "password": "ssh-secret-pass",
        "isRunning": True,
    },
    "connectComponentWebTerminal": {
        "address": "https://term.example",
        "username": "root",
        "password": "term-secret-pass",
        "isRunning": False,
    },
    "sshPassword": "old-style-ssh-secret",
    "someFieldNovitaAddedLater": {"nested": True},
    "keepDataDay": "",
}


def test_get_instance_parses_numbers_sent_as_strings() -> None:
    instance = Instance.model_validate(GET_INSTANCE)

    assert instance.gpu_num == 2
    assert instance.cpu_num == 16
    assert instance.rootfs_size == 60
    assert instance.keep_data_day is None
    assert instance.port_mappings[0].port == 8888
    assert instance.status_error is None
    assert [p.port for p in instance.port_mappings if p.type == "http" and p.endpoint] == [8888]


def test_get_instance_keeps_no_password() -> None:
    instance = Instance.model_validate(GET_INSTANCE)
    dumped = repr(instance.model_dump()) + repr(instance.model_dump(by_alias=True)) + repr(instance)

    for secret in ("ssh-secret-pass", "term-secret-pass", "old-style-ssh-secret", "tok-123456"):
        assert secret not in dumped
    assert instance.connect_component_ssh is not None
    assert (
        instance.connect_component_ssh.ssh_command == "ssh -p 32787 root@proxy.us-ca-1.gpu-instance.novita.ai"
    )
    assert instance.envs[1].value == "10"


def test_a_real_status_error_is_kept() -> None:
    instance = InstanceSummary.model_validate(
        {"id": "i", "status": "exited", "statusError": {"state": "pullFailed", "message": "image not found"}}
    )

    assert instance.status_error is not None
    assert instance.status_error.message == "image not found"


def test_list_items_tolerate_nulls_and_missing_fields() -> None:
    summary = InstanceSummary.model_validate(
        {"id": 123, "name": "x", "portMappings": None, "envs": None, "gpuNum": "n/a", "memory": "62.5"}
    )

    assert summary.id == "123"
    assert summary.port_mappings == []
    assert summary.gpu_num is None
    assert summary.memory == 62.5


def test_template_reads_capital_id_and_flattens_ports() -> None:
    template = Template.model_validate(
        {
            "Id": "tpl-1",
            "name": "team-app",
            "image": "registry.example.com/team/app:1.0",
            "imageAuth": "auth-team-registry",
            "rootfsSize": "50",
            "ports": [{"type": "http", "ports": [8000, "8001"]}, {"type": "tcp", "ports": [22]}],
            "envs": [{"key": "APP_MODE", "value": "serve"}],
            "createdAt": "1738368000",
            "recommendCards": [{"gpuSpecId": "p", "cardNum": 1}],
        }
    )

    assert template.id == "tpl-1"
    assert template.image_auth == "auth-team-registry"
    assert template.rootfs_size == 50
    assert template.port_list() == [(8000, "http"), (8001, "http"), (22, "tcp")]
    assert template.ports_spec() == "8000/http,8001/http,22/tcp"


@pytest.mark.parametrize("value", ["", "   ", "deploy:hunter2", None])
def test_template_never_keeps_inline_credentials(value: str | None) -> None:
    template = Template.model_validate({"Id": "tpl-1", "imageAuth": value})

    assert template.image_auth is None
    assert "hunter2" not in repr(template.model_dump())


def test_registry_auth_has_no_password() -> None:
    auth = RegistryAuth.model_validate(
        {"id": "auth-1", "name": "team-registry", "username": "deploy", "password": "fake-registry-pass"}
    )

    assert auth.username == "deploy"
    assert "fake-registry-pass" not in repr(auth.model_dump()) + repr(auth)
    assert "password" not in RegistryAuth.model_fields


def test_product_prices_and_flags_are_tolerant() -> None:
    product = Product.model_validate(
        {
            "id": "prod-1",
            "name": "H100",
            "availableDeploy": "false",
            "price": "67000",
            "spotPrice": "",
            "minRootFS": "10",
            "maxRootFS": 2000,
            "monthlyPrice": [{"price": "20000000", "month": "1"}],
            "regions": None,
        }
    )

    assert product.available_deploy is False
    assert product.price == 67000
    assert product.spot_price is None
    assert product.min_root_fs == 10
    assert product.max_root_fs == 2000
    assert product.monthly_price[0].month == 1
    assert product.regions == []


def test_create_request_body_is_camel_case_without_unset_fields() -> None:
    request = CreateInstanceRequest(
        name="worker-1",
        product_id="prod-1",
        image_url="registry.example.com/team/app:1.0",
        image_auth_id="auth-1",
        ports="8000/http",
        envs={"HF_TOKEN": "hf_secret_value"},
        rootfs_size=50,
    )

    assert request.to_body() == {
        "name": "worker-1",
        "productId": "prod-1",
        "gpuNum": 1,
        "rootfsSize": 50,
        "imageUrl": "registry.example.com/team/app:1.0",
        "imageAuthId": "auth-1",
        "ports": "8000/http",
        "envs": [{"key": "HF_TOKEN", "value": "hf_secret_value"}],
        "kind": "gpu",
    }
    # The value goes to Novita, but a repr (e.g. in a log line) does not show it.
    assert "hf_secret_value" not in repr(request)


def test_create_request_accepts_camel_case_and_rejects_inline_credentials() -> None:
    request = CreateInstanceRequest.model_validate({"productId": "p", "imageUrl": "nginx", "gpuNum": 2})
    assert request.gpu_num == 2

    with pytest.raises(ValidationError):
        CreateInstanceRequest.model_validate({"productId": "p", "imageUrl": "nginx", "imageAuth": "u:p"})


def test_create_request_validates_ranges() -> None:
    with pytest.raises(ValidationError):
        CreateInstanceRequest(product_id="p", image_url="nginx", gpu_num=9)
    with pytest.raises(ValidationError):
        CreateInstanceRequest(product_id="", image_url="nginx")


@pytest.mark.parametrize(
    "variant",
    [
        # As documented on the get page ...
        {
            "volumeMounts": [{"type": "local", "size": 60, "id": "", "mountPath": "/"}],
            "node": [{"maxRootfsSize": 6144}],
        },
        # ... and as live-tested clients parse it: size a string, node an object.
        {
            "volumeMounts": [{"type": "local", "size": "60", "mountPath": "/"}],
            "node": {"maxRootfsSize": "6144"},
        },
        {"billingMode": "", "spotStatus": "", "endTime": "-1", "spotReclaimTime": "0"},
    ],
)
def test_an_instance_reads_in_every_shape_seen(variant: dict[str, object]) -> None:
    instance = Instance.model_validate({**GET_INSTANCE, **variant})

    assert instance.id == "inst-1" and instance.status == "running"
    assert InstanceSummary.model_validate({**GET_INSTANCE, **variant}).name == "dev-box"


def test_a_blank_spot_price_and_billing_mode_are_absent() -> None:
    product = Product.model_validate({"id": "p", "spotPrice": "", "price": "67000"})
    instance = InstanceSummary.model_validate({"id": "i", "billingMode": ""})

    assert product.spot_price is None and product.price == 67000
    assert instance.billing_mode is None
