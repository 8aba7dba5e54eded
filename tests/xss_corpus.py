"""Hostile strings, in one place, for every test that checks that output stays inert.

The browser tests (tests/e2e/) type the `XSS_*` strings into the widget, console and
portal: each sets `window.__xss` if it ever runs. The email tests
(tests/ticketing/test_mail_xss.py) push all of `CORPUS` through every kind of email.
Add new payloads here, and every test that renders user text gets them.
"""

from __future__ import annotations

# Each one, if a page ever runs it, leaves its number in window.__xss.
XSS_NAME = '<img src=x onerror="window.__xss=1">'
XSS_MESSAGE = "<script>window.__xss=2</script><b>bold</b>"
XSS_SUBJECT = '<svg onload="window.__xss=3"><i>subject</i></svg>'
XSS_REPLY = '<img src=y onerror="window.__xss=4"><b>reply</b>'

# Markup, attribute breaks, script URLs and template syntax: shown as written, never
# interpreted (no tag, attribute, link or evaluated expression may come of them).
CORPUS: tuple[str, ...] = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg/onload=alert(1)>",
    "javascript:alert(1)",
    '<a href="javascript:alert(1)">click me</a>',
    "<iframe src=//evil.test></iframe>",
    "{{7*7}}",
    "${7*7}",
    "{0.__class__}",
    "%(name)s",
    "&lt;already escaped&gt; & raw",
    XSS_NAME,
    XSS_MESSAGE,
    XSS_SUBJECT,
    XSS_REPLY,
)

# Line breaks that would start a new mail header if they reached one unfolded.
HEADER_INJECTIONS: tuple[str, ...] = (
    "a\r\nBcc: evil@x.test",
    "a\nBcc: evil@x.test",
    "a\rBcc: evil@x.test",
    "a\r\n\r\n<script>alert(1)</script>",
)
