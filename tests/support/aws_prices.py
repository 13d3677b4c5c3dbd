"""AWS's public on-demand unit prices, written down once, and the bill of counted usage.

Region **us-east-1 (N. Virginia)**, as AWS's pricing pages list them in **2025** (DynamoDB's
on-demand prices after the cut of November 2024). Free tiers and volume tiers are left out (a bill
at the first tier's price, as a small deployment pays once past the free tier). Not included:
CloudWatch Logs and metrics, Secrets Manager reads (cached for minutes by every function), X-Ray,
data transfer, storage.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

PRICES_REGION = "us-east-1"
PRICES_AS_OF = "2025"

#: Step Functions Standard: per state transition ($0.025 per 1,000).
STEP_FUNCTIONS_TRANSITION = 0.025 / 1_000
#: Lambda on Arm (Graviton), as the template deploys: per request ($0.20 per million) ...
LAMBDA_REQUEST = 0.20 / 1_000_000
#: ... and per GB-second of duration.
LAMBDA_ARM_GB_SECOND = 0.0000133334
#: DynamoDB on-demand: per read request unit (4 KB strongly consistent, or 2 x 4 KB eventually) ...
DYNAMODB_READ_UNIT = 0.125 / 1_000_000
#: ... and per write request unit (1 KB).
DYNAMODB_WRITE_UNIT = 0.625 / 1_000_000
#: SQS standard queue: per request (64 KB chunks).
SQS_REQUEST = 0.40 / 1_000_000
#: EventBridge: per custom event published (64 KB chunks).
EVENTBRIDGE_EVENT = 1.00 / 1_000_000
#: API Gateway REST API: per request (first 333 million a month).
API_GATEWAY_REQUEST = 3.50 / 1_000_000


@dataclass(frozen=True)
class Usage:
    """What one startup used (counts; they may be means, hence floats)."""

    transitions: float = 0.0
    lambda_requests: float = 0.0
    lambda_gb_seconds: float = 0.0
    dynamodb_read_units: float = 0.0
    dynamodb_write_units: float = 0.0
    sqs_requests: float = 0.0
    eventbridge_events: float = 0.0
    api_requests: float = 0.0

    def bill(self) -> dict[str, float]:
        """USD per part and ``total``."""
        parts = {
            "step_functions": self.transitions * STEP_FUNCTIONS_TRANSITION,
            "lambda": self.lambda_requests * LAMBDA_REQUEST + self.lambda_gb_seconds * LAMBDA_ARM_GB_SECOND,
            "dynamodb": self.dynamodb_read_units * DYNAMODB_READ_UNIT
            + self.dynamodb_write_units * DYNAMODB_WRITE_UNIT,
            "sqs": self.sqs_requests * SQS_REQUEST,
            "eventbridge": self.eventbridge_events * EVENTBRIDGE_EVENT,
            "api_gateway": self.api_requests * API_GATEWAY_REQUEST,
        }
        return {name: round(usd, 8) for name, usd in parts.items()} | {"total": round(sum(parts.values()), 8)}

    def as_json(self) -> dict[str, float]:
        return {f.name: round(getattr(self, f.name), 3) for f in fields(self)}
