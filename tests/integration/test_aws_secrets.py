"""The functions' secret reads (``Aws.secret``) through a real botocore client to a loopback Secrets
Manager stand-in: read at most once per ``max_age``, and every failure named by its setting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from novita_orchestrator.deps import Aws
from novita_orchestrator.settings import ConfigurationError
from tests.support.aws_stub import AwsStub
from tests.support.dynamodb_local import LOCAL_CREDENTIALS

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:novita-api-key"
READ = "secretsmanager.GetSecretValue"


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsStub]:
    with AwsStub({SECRET: " sk-live-key \n", "unset-secret": "unset"}) as aws:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", aws.url)
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", LOCAL_CREDENTIALS["aws_access_key_id"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", LOCAL_CREDENTIALS["aws_secret_access_key"])
        yield aws


def test_a_secret_is_read_once_while_its_cached_value_is_young(stub: AwsStub) -> None:
    aws = Aws()

    first = aws.secret(SECRET, max_age=300, setting="NOVITA_API_KEY_SECRET_ARN")
    again = aws.secret(SECRET, max_age=300, setting="NOVITA_API_KEY_SECRET_ARN")

    assert first == again == "sk-live-key"
    assert stub.calls == [READ]


def test_a_secret_older_than_max_age_is_read_again(stub: AwsStub) -> None:
    aws = Aws()
    aws.secret(SECRET, max_age=0, setting="NOVITA_API_KEY_SECRET_ARN")
    stub.secrets[SECRET] = "sk-rotated"

    assert aws.secret(SECRET, max_age=0, setting="NOVITA_API_KEY_SECRET_ARN") == "sk-rotated"
    assert stub.calls == [READ, READ]


@pytest.mark.parametrize(
    ("secret_id", "message"),
    [
        ("no-such-secret", "WEBHOOK_SECRET_ARN: the secret could not be read"),
        ("unset-secret", "WEBHOOK_SECRET_ARN: the secret holds no value yet"),
    ],
)
def test_a_missing_or_unset_secret_names_the_setting(stub: AwsStub, secret_id: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as raised:
        Aws().secret(secret_id, max_age=300, setting="WEBHOOK_SECRET_ARN")
    assert secret_id not in str(raised.value)
