"""mcp-rag: conversation memory for AI assistants and the people who run them."""

__version__ = "0.1.0"
