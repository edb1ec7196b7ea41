"""Chat messages as plain text: one reading of TRL's prompts and completions for every reader.

From TRL 1.15 a prompt or completion may be a message list (``[{"role": ..., "content": ...}]``)
rather than a string; content may be typed blocks (``[{"type": "text", "text": ...}]``) and a
reasoning model's thinking may sit in ``reasoning_content`` or ``thinking``. The rewards, the
sample capture, the sample store and the TRL-folder reader all read them through here.
"""

from __future__ import annotations

from typing import Any


def content_text(content: Any) -> str:
    """A message's ``content``: a string, or typed blocks joined."""
    if isinstance(content, list):
        return "".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return "" if content is None else str(content)


def chat_text(value: Any, *, roles: bool = False, joiner: str = "\n") -> str:
    """``value`` as text. Messages give their reasoning then their content (``roles``: ``role: content``
    lines instead, as a prompt is shown), joined by ``joiner``; anything else is ``str(value)``."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = []
        for m in value:
            if not isinstance(m, dict):
                parts.append(str(m))
            elif roles:
                parts.append(f"{m.get('role', '')}: {content_text(m.get('content'))}")
            else:
                reasoning = m.get("reasoning_content") or m.get("thinking")
                if reasoning:
                    parts.append(str(reasoning))
                content = content_text(m.get("content"))
                if content:
                    parts.append(content)
        return joiner.join(parts)
    return "" if value is None else str(value)
