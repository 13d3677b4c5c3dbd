"""Shared resilience for Novita calls: a circuit breaker and a rate limiter whose state lives in DynamoDB."""
