"""The library every novita-orchestrator Lambda uses (shipped as a Lambda layer)."""
