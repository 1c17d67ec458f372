"""`python -m mcp_rag.cli`, the same as the `mcp-rag` console script."""

from mcp_rag.cli import main

main()
