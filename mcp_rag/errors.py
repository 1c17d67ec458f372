"""One exception hierarchy for the core; each door maps it once.

REST turns these into problem+json responses (the status codes live in
api/problems.py), MCP into tool errors, the CLI into a message and an exit
code. Nothing below the doors knows about HTTP.
"""


class McpRagError(Exception):
    """Base class: a failure the user can act on, with a message safe to show."""

    title = "Internal error"


class Invalid(McpRagError):
    title = "Invalid input"


class TooLarge(Invalid):
    """An input that would expand past a configured bound: refused before it is read."""

    title = "Content too large"


class NotFound(McpRagError):
    title = "Not found"


class Conflict(McpRagError):
    title = "Conflict"


class Unauthorized(McpRagError):
    title = "Unauthorized"


class Forbidden(McpRagError):
    title = "Forbidden"


class Unavailable(McpRagError):
    """A dependency (database, model, provider) cannot serve right now."""

    title = "Service unavailable"


class ConfigError(McpRagError):
    """A setting is missing or wrong; start-up stops with one line naming it."""

    title = "Configuration error"
