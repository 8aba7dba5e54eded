"""English wording of the emails Chatdesk sends (the reference: every key starts here)."""

from __future__ import annotations

STRINGS: dict[str, str] = {
    "subject": "[#{ticket_id}] {subject}",
    "subject.transcript": "Your chat transcript ({date})",
    "reply_marker": "##- Please type your reply above this line -##",
    "greeting": "Hello {name},",
    "greeting.anonymous": "Hello,",
    "created.chat": (
        "Thank you for chatting with us. The conversation is saved as ticket #{ticket_id}; "
        "reply to this email if you want to add anything."
    ),
    "created.email": (
        "We received your email and opened ticket #{ticket_id}. "
        "We will answer you as soon as possible."
    ),
    "created.other": (
        "We opened ticket #{ticket_id} for your request. We will answer you as soon as possible."
    ),
    "reply": "{agent} answered ticket #{ticket_id}:",
    "pending": (
        "To continue with ticket #{ticket_id} we need an answer from you. "
        "Simply reply to this email."
    ),
    "resolved": (
        "We believe ticket #{ticket_id} is solved. Please confirm it, or reopen it if "
        "something is still not right."
    ),
    "resolved.copied": "The requester can confirm the solution or reopen the ticket.",
    "action.confirm": "Yes, it is solved",
    "action.reopen": "No, reopen the ticket",
    "closed.inactive": (
        "Ticket #{ticket_id} was closed as inactive: we did not hear back. "
        "If you still need help, please open a new ticket."
    ),
    "closed.solved": (
        "Ticket #{ticket_id} was closed as solved: it was resolved and not reopened in time."
    ),
    "closed.approved": "Ticket #{ticket_id} is closed: the solution was confirmed. Thank you!",
    "closed.duplicate": (
        "Ticket #{ticket_id} was closed as a duplicate of another ticket about the same request."
    ),
    "closed.cancelled": "Ticket #{ticket_id} was cancelled.",
    "closed.other": "Ticket #{ticket_id} is closed.",
    "rate": "How satisfied are you with our help? One click is enough:",
    "rating.1": "1 - Very dissatisfied",
    "rating.2": "2 - Dissatisfied",
    "rating.3": "3 - Neutral",
    "rating.4": "4 - Satisfied",
    "rating.5": "5 - Very satisfied",
    "reminder": (
        "We are still waiting for your answer to continue with ticket #{ticket_id}. "
        "Please reply to this email; without an answer the ticket will be closed as inactive."
    ),
    "transcript": "Here is the transcript of your chat of {date} (ticket #{ticket_id}):",
    "view": "See the ticket online",
    "footer": (
        "You receive this email because you asked us for help or were copied on "
        "ticket #{ticket_id}."
    ),
    "footer.transcript": (
        "You receive this email because it was asked for at the end of a chat with us."
    ),
}
