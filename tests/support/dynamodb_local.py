"""DynamoDB Local (AWS's own emulator) for the integration tests: started in memory on a free port.

``make install`` unpacks the jar into ``.tools/``; ``DYNAMODB_LOCAL_JAR`` may point elsewhere.
Tables are created from their definitions in ``template.yaml`` so schema drift fails the tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from novita_local.template import load_template, resources_of_type, table_create_kwargs, table_ttl_attribute
from novita_orchestrator.store.operations_store import INSTANCE_INDEX, OperationRecord
from tests.support.ports import free_port, wait_for_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_JAR = PROJECT_ROOT / ".tools/dynamodb-local/package/emulator/DynamoDBLocal.jar"
# DynamoDB Local accepts any credentials; these only keep boto3 from looking for real ones.
LOCAL_CREDENTIALS = {
    "aws_access_key_id": "local",
    "aws_secret_access_key": "local",
    "region_name": "us-east-1",
}


def jar_path() -> Path:
    jar = Path(os.environ.get("DYNAMODB_LOCAL_JAR", DEFAULT_JAR))
    if not jar.is_file():
        raise RuntimeError(f"DynamoDB Local is not installed at {jar}: run `make install`")
    return jar


@dataclass
class DynamoDBLocal:
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DynamoDBLocal:
        jar = jar_path()
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("java is not on PATH: DynamoDB Local needs Java 17")
        self.process = subprocess.Popen(
            [
                java,
                f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
                "-jar",
                str(jar),
                "-inMemory",
                "-port",
                str(self.port),
            ],
            cwd=jar.parent,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, timeout=60)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def client(self) -> Any:
        return boto3.client("dynamodb", endpoint_url=self.endpoint_url, **LOCAL_CREDENTIALS)

    def create_table_from_template(self, logical_id: str) -> str:
        """Create the template's table ``logical_id`` under a fresh name; return that name."""
        tables = resources_of_type(load_template(), "AWS::DynamoDB::Table")
        if logical_id not in tables:
            raise KeyError(f"template.yaml has no AWS::DynamoDB::Table named {logical_id}")
        name = f"{logical_id}-{uuid.uuid4().hex[:8]}"
        client = self.client()
        client.create_table(**table_create_kwargs(tables[logical_id], name))
        client.get_waiter("table_exists").wait(TableName=name)
        ttl_attribute = table_ttl_attribute(tables[logical_id])
        if ttl_attribute:
            client.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute}
            )
        return name


def started() -> DynamoDBLocal:
    db = DynamoDBLocal().start()
    # The first request warms the JVM; do it here rather than inside a timed test.
    deadline = time.monotonic() + 30
    while True:
        try:
            db.client().list_tables()
            return db
        except Exception:
            if time.monotonic() > deadline:
                db.stop()
                raise
            time.sleep(0.2)


def operations_of_instance(
    client: Any, table: str, instance_id: str, limit: int = 20
) -> list[OperationRecord]:
    """An instance's operations, newest first, through the operations table's ``byInstance`` index."""
    response = client.query(
        TableName=table,
        IndexName=INSTANCE_INDEX,
        KeyConditionExpression="gsi1pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"INSTANCE#{instance_id}"}},
        ScanIndexForward=False,
        Limit=limit,
    )
    return [OperationRecord.from_item(item) for item in response.get("Items", [])]
