"""DynamoDB adapters: one module per store, mapping AWS errors to domain results."""
