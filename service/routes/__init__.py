"""The HTTP endpoints, one blueprint per concern."""
