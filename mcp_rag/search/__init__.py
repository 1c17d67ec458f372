"""The search pipeline, one idea per module: terms → BM25 weights → fusion.

The SQL that runs these steps lives in mcp_rag/store/arms.py; these modules
hold the rules and the reasons for them.
"""
