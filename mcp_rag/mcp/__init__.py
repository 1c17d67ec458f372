"""The MCP door: tools and resources over the service, for stdio and streamable HTTP.

Thin like the other doors: each tool parses its arguments, calls one service
function and returns the service's own model as structured output. Errors of
the core (and pydantic validation) are mapped once, in `door.door`, to MCP tool
errors the model can read and act on.

Nothing here touches the database or the embedding model at import or
construction time, and the service module itself (SQLAlchemy, the store, the
embedder) is imported on the first tool call: `initialize` must be answered
fast, or clients that kill slow servers give up on us.

- `server`: `build_server`, the instructions and the order tools are listed in.
- `door`: the caller's namespace, error mapping and tool registration.
- `writes`, `reads`, `answers`, `imports`: the tools, by what they do.
- `resources`: conversations as plain-text transcripts.
- `replies`: the compact reply models; `progress`: progress notifications.
- `http`: mounting the server in a Starlette app.
"""

from mcp_rag.mcp.door import namespace_of
from mcp_rag.mcp.http import http_endpoint, mount_http
from mcp_rag.mcp.server import INSTRUCTIONS, build_server

__all__ = ["INSTRUCTIONS", "build_server", "http_endpoint", "mount_http", "namespace_of"]
