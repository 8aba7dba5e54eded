"""What the language tests look for on a rendered page: missing-key markers and raw keys."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.async_api import Page

I18N = Path(__file__).resolve().parents[2] / "static" / "i18n"

# A translation key shown instead of its text, in any namespace the pages use.
RAW_KEY = re.compile(
    r"\b(?:common|launcher|widget|message|rating|survey|console|chat|ticket|tickets|portal"
    r"|sla|history|error|canned|context|transfer)\.[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*\b"
)


def strings(lang: str) -> dict[str, str]:
    return json.loads((I18N / f"{lang}.json").read_text(encoding="utf-8"))


async def untranslated(page: Page) -> list[str]:
    """Missing-key markers and raw keys in the text and the labels of a page or frame."""
    text = await page.evaluate(
        """() => {
          const parts = [document.title, document.body.textContent];
          for (const el of document.querySelectorAll('*')) {
            for (const name of ['placeholder', 'aria-label', 'title', 'alt']) {
              const value = el.getAttribute(name);
              if (value) parts.push(value);
            }
          }
          return parts.join('\\n');
        }"""
    )
    return sorted(set(re.findall(r"⟦[^⟧]*⟧", text) + RAW_KEY.findall(text)))
