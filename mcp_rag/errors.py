"""One exception hierarchy for the core; each door maps it once.

REST turns these into problem+json responses, MCP into tool errors, the CLI
into a message and an exit code. Nothing below the doors knows about HTTP.
"""


class McpRagError(Exception):
    """Base class: a failure the user can act on, with a message safe to show."""

    status = 500
    title = "Internal error"


class Invalid(McpRagError):
    status = 422
    title = "Invalid input"


class NotFound(McpRagError):
    status = 404
    title = "Not found"


class Conflict(McpRagError):
    status = 409
    title = "Conflict"


class Unauthorized(McpRagError):
    status = 401
    title = "Unauthorized"


class Forbidden(McpRagError):
    status = 403
    title = "Forbidden"


class Unavailable(McpRagError):
    """A dependency (database, model, provider) cannot serve right now."""

    status = 503
    title = "Service unavailable"


class ConfigError(McpRagError):
    """A setting is missing or wrong; start-up stops with one line naming it."""

    status = 500
    title = "Configuration error"
