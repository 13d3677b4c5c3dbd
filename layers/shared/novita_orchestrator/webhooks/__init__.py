"""Webhook delivery: Standard Webhooks signing, delivery policy, outbound URL guard, the SQS dispatcher."""
