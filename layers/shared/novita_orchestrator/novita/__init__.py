"""Everything about talking to Novita: the client, its models, its errors, redaction and the guard hook."""
