"""Importers: one module per source format, each turning an export into our conversations.

Formats, by the name `--format` takes:
- slack     Slack workspace export (zip or folder)            slack.py
- chatgpt   ChatGPT export conversations.json                  chatgpt.py
- claude    Claude export conversations.json                   claude.py
- whatsapp  WhatsApp chat export (.txt)                        whatsapp.py
- markdown  Markdown chats (## User / **Kate:** ...)           markdown.py
- transcript  plain `Name: text` lines                         transcript.py
- json      our format: JSON object, array or JSON Lines       ours.py
- openai    [{"role", "content"}] lists / {"messages": [...]}  openai_chat.py

`formats.py` maps those names to the modules; `detect.py` picks the format from a
file's content; `run.py` is the use case the doors call through `Service.import_files`.
This package's own module imports none of them: a server loads the parsers with its
first import, not at start.
"""
