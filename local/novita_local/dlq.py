"""``novita-orchestrator dlq list|redrive``: the webhook dead-letter queue, from a shell.

On AWS the queue URLs come from ``--stack`` (the stack's outputs), from ``--dlq-url`` /
``--queue-url``, or from WEBHOOK_DLQ_URL / WEBHOOK_QUEUE_URL in the environment; the work is
:class:`novita_orchestrator.webhooks.dead_letters.DeadLetters`. With ``--api URL`` the queue is the
one of a running ``novita-orchestrator serve`` (its embedded stack lives in that process), reached
through serve's local routes.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

import boto3
import requests
from botocore.exceptions import BotoCoreError, ClientError

from novita_local.runtime import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, BadInput, fail, shell_environment
from novita_orchestrator.webhooks.dead_letters import DeadLetter, DeadLetters, RedriveResult


def add_dlq_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dlq",
        help="list or redrive webhook notifications parked in the dead-letter queue",
        description="The webhook dead-letter queue on AWS (queue URLs: --stack, the options or settings),"
        " or of a running `novita-orchestrator serve` (--api http://127.0.0.1:3000).",
        epilog="environment:\n"
        "  WEBHOOK_DLQ_URL, WEBHOOK_QUEUE_URL   the queues, when neither --stack nor the options name them\n"
        "  AWS_REGION, AWS_PROFILE, ...         the AWS configuration (as for the AWS CLI)\n"
        "  ORCHESTRATOR_API_KEY                 with --api: the key of `serve --api-key`\n\n"
        "exit status: 0 done, 1 an AWS error, 2 bad input\n\n"
        "example:\n  novita-orchestrator dlq list --stack my-stack\n"
        "  novita-orchestrator dlq redrive --stack my-stack\n"
        "  novita-orchestrator dlq list --api http://127.0.0.1:3000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="dlq_action", required=True, metavar="ACTION")
    for name, help_text in (
        ("list", "show the parked notifications (event, type, host, reason, attempts)"),
        ("redrive", "send every parked notification back to the webhook queue"),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument(
            "--api",
            metavar="URL",
            help="a running `novita-orchestrator serve` (e.g. http://127.0.0.1:3000): its embedded queues"
            " (reads ORCHESTRATOR_API_KEY for `serve --api-key`)",
        )
        action.add_argument("--stack", help="CloudFormation stack whose outputs name the queues")
        action.add_argument("--dlq-url", help="the dead-letter queue (default: setting WEBHOOK_DLQ_URL)")
        action.add_argument("--queue-url", help="the webhook queue (default: setting WEBHOOK_QUEUE_URL)")
        action.add_argument("--region", help="AWS region (default: the AWS configuration)")
        action.add_argument("--endpoint-url", help="an SQS-compatible endpoint instead of AWS")
        action.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run_dlq_command)


def run_dlq_command(args: argparse.Namespace) -> int:
    if args.api:
        return _run_against_serve(args)
    try:
        dlq_url, queue_url = _queue_urls(args)
        sqs = boto3.client("sqs", region_name=args.region, endpoint_url=args.endpoint_url)
        dead_letters = DeadLetters(sqs, dlq_url=dlq_url, queue_url=queue_url)
        if args.dlq_action == "list":
            letters = dead_letters.peek()
            _print_list(letters, as_json=args.json)
        else:
            result = dead_letters.redrive()
            _print_redrive(result, as_json=args.json)
    except BadInput as exc:
        return fail(str(exc), EXIT_BAD_INPUT, command="dlq")
    except (BotoCoreError, ClientError, RuntimeError) as exc:
        return fail(str(exc), EXIT_FAILED, command="dlq")
    return EXIT_OK


def _run_against_serve(args: argparse.Namespace) -> int:
    base = str(args.api).rstrip("/")
    if not base.startswith(("http://", "https://")):
        return fail("--api: must be the URL serve printed, e.g. http://127.0.0.1:3000", command="dlq")
    headers = {"x-api-key": key} if (key := shell_environment().get("ORCHESTRATOR_API_KEY")) else {}
    method, path = ("GET", "/_local/dlq") if args.dlq_action == "list" else ("POST", "/_local/dlq/redrive")
    session = requests.Session()
    session.trust_env = False  # serve listens on this machine: never through a proxy
    try:
        answer = session.request(method, base + path, headers=headers, timeout=60)
    except requests.RequestException as exc:
        return fail(f"--api: cannot reach serve at {base}: {type(exc).__name__}", EXIT_FAILED, command="dlq")
    if answer.status_code != 200:
        return fail(
            f"--api: {base} answered HTTP {answer.status_code} (is it `novita-orchestrator serve`?)",
            EXIT_FAILED,
            command="dlq",
        )
    body = answer.json()
    if args.dlq_action == "list":
        _print_list([DeadLetter(**letter) for letter in body["deadLetters"]], as_json=args.json)
    else:
        _print_redrive(RedriveResult(**body), as_json=args.json)
    return EXIT_OK


def _queue_urls(args: argparse.Namespace) -> tuple[str, str]:
    environment = shell_environment()
    dlq_url, queue_url = args.dlq_url, args.queue_url
    if args.stack:
        cloudformation = boto3.client("cloudformation", region_name=args.region)
        stack = cloudformation.describe_stacks(StackName=args.stack)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        dlq_url = dlq_url or outputs.get("WebhookDeadLetterQueueUrl")
        queue_url = queue_url or outputs.get("WebhookQueueUrl")
    dlq_url = dlq_url or environment.get("WEBHOOK_DLQ_URL")
    queue_url = queue_url or environment.get("WEBHOOK_QUEUE_URL")
    if not dlq_url:
        raise BadInput("no dead-letter queue: pass --stack or --dlq-url, or set WEBHOOK_DLQ_URL")
    if not queue_url and args.dlq_action == "redrive":
        raise BadInput("no webhook queue: pass --stack or --queue-url, or set WEBHOOK_QUEUE_URL")
    return str(dlq_url), str(queue_url or "")


def _print_list(letters: list[DeadLetter], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"deadLetters": [asdict(letter) for letter in letters]}, indent=None))
        return
    if not letters:
        print("the webhook dead-letter queue is empty")
        return
    for letter in letters:
        print(
            f"{letter.sent_at or '-'}  {letter.event_id or '?'}  {letter.event_type or '?'}  "
            f"host={letter.webhook_host or '-'}  reason={letter.failure_reason or '-'}  "
            f"attempts={letter.attempts if letter.attempts is not None else '-'}"
            f"{f'  last={letter.last_status}' if letter.last_status is not None else ''}"
        )
    print(f"{len(letters)} notification(s) parked")


def _print_redrive(result: RedriveResult, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(asdict(result)))
        return
    moved = "some" if result.moved is None else str(result.moved)
    print(f"redrive ({result.method}): {moved} notification(s) sent back to the webhook queue")
