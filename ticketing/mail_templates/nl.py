"""Dutch wording of the emails (the same keys as `en.py`)."""

from __future__ import annotations

STRINGS: dict[str, str] = {
    "subject": "[#{ticket_id}] {subject}",
    "subject.transcript": "Het verslag van uw chat ({date})",
    "reply_marker": "##- Typ uw antwoord boven deze regel -##",
    "greeting": "Beste {name},",
    "greeting.anonymous": "Beste klant,",
    "created.chat": (
        "Bedankt voor uw chat. Het gesprek is bewaard als ticket #{ticket_id}; "
        "beantwoord deze e-mail als u nog iets wilt toevoegen."
    ),
    "created.email": (
        "We hebben uw e-mail ontvangen en ticket #{ticket_id} aangemaakt. "
        "We antwoorden zo snel mogelijk."
    ),
    "created.other": (
        "We hebben ticket #{ticket_id} aangemaakt voor uw verzoek. We antwoorden zo snel mogelijk."
    ),
    "reply": "{agent} heeft ticket #{ticket_id} beantwoord:",
    "pending": (
        "Om verder te gaan met ticket #{ticket_id} hebben we uw antwoord nodig. "
        "Beantwoord gewoon deze e-mail."
    ),
    "resolved": (
        "We denken dat ticket #{ticket_id} is opgelost. Bevestig de oplossing, of heropen "
        "het ticket als er nog iets niet klopt."
    ),
    "resolved.copied": "De aanvrager kan de oplossing bevestigen of het ticket heropenen.",
    "action.confirm": "Ja, het is opgelost",
    "action.reopen": "Nee, heropen het ticket",
    "closed.inactive": (
        "Ticket #{ticket_id} is gesloten wegens inactiviteit: we hebben niets meer gehoord. "
        "Heeft u nog hulp nodig, maak dan een nieuw ticket aan."
    ),
    "closed.solved": (
        "Ticket #{ticket_id} is gesloten als opgelost: het is niet op tijd heropend."
    ),
    "closed.approved": "Ticket #{ticket_id} is gesloten: de oplossing is bevestigd. Bedankt!",
    "closed.duplicate": (
        "Ticket #{ticket_id} is gesloten als dubbel: er is een ander ticket over hetzelfde verzoek."
    ),
    "closed.cancelled": "Ticket #{ticket_id} is geannuleerd.",
    "closed.other": "Ticket #{ticket_id} is gesloten.",
    "rate": "Hoe tevreden bent u over onze hulp? Eén klik is genoeg:",
    "rating.1": "1 - Zeer ontevreden",
    "rating.2": "2 - Ontevreden",
    "rating.3": "3 - Neutraal",
    "rating.4": "4 - Tevreden",
    "rating.5": "5 - Zeer tevreden",
    "reminder": (
        "We wachten nog op uw antwoord om verder te gaan met ticket #{ticket_id}. "
        "Beantwoord deze e-mail; zonder antwoord wordt het ticket gesloten wegens inactiviteit."
    ),
    "transcript": "Hier is het verslag van uw chat van {date} (ticket #{ticket_id}):",
    "view": "Bekijk het ticket online",
    "footer": (
        "U ontvangt deze e-mail omdat u ons om hulp vroeg of een kopie kreeg van "
        "ticket #{ticket_id}."
    ),
    "footer.transcript": (
        "U ontvangt deze e-mail omdat erom werd gevraagd aan het einde van een chat met ons."
    ),
}
