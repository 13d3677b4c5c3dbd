"""The REST API: routes (Powertools resolver), wire models, error mapping and the service behind them."""
