"""virtdeck's REST API: FastAPI routes that translate HTTP to the engine interface."""
