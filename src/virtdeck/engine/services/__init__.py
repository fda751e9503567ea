"""The engine's services: one per area, each built with what it needs."""
