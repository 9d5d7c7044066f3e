"""Agent-based models (Mesa) of the people and firms who drive land-use change."""
