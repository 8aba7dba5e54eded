"""Brazilian Portuguese wording of the emails (the same keys as `en.py`)."""

from __future__ import annotations

STRINGS: dict[str, str] = {
    "subject": "[#{ticket_id}] {subject}",
    "subject.transcript": "A transcrição da sua conversa ({date})",
    "reply_marker": "##- Escreva sua resposta acima desta linha -##",
    "greeting": "Olá, {name},",
    "greeting.anonymous": "Olá,",
    "created.chat": (
        "Obrigado por conversar conosco. A conversa foi registrada como o ticket "
        "#{ticket_id}; responda a este e-mail se quiser acrescentar algo."
    ),
    "created.email": (
        "Recebemos seu e-mail e abrimos o ticket #{ticket_id}. Responderemos o quanto antes."
    ),
    "created.other": (
        "Abrimos o ticket #{ticket_id} para a sua solicitação. Responderemos o quanto antes."
    ),
    "reply": "{agent} respondeu ao ticket #{ticket_id}:",
    "pending": (
        "Para continuar com o ticket #{ticket_id} precisamos da sua resposta. "
        "Basta responder a este e-mail."
    ),
    "resolved": (
        "Acreditamos que o ticket #{ticket_id} foi resolvido. Confirme a solução, ou reabra "
        "o ticket se algo ainda não estiver certo."
    ),
    "resolved.copied": "O solicitante pode confirmar a solução ou reabrir o ticket.",
    "action.confirm": "Sim, foi resolvido",
    "action.reopen": "Não, reabrir o ticket",
    "closed.inactive": (
        "O ticket #{ticket_id} foi encerrado por inatividade: não recebemos resposta. "
        "Se ainda precisar de ajuda, abra um novo ticket."
    ),
    "closed.solved": (
        "O ticket #{ticket_id} foi encerrado como resolvido: não foi reaberto no prazo."
    ),
    "closed.approved": "O ticket #{ticket_id} foi encerrado: a solução foi confirmada. Obrigado!",
    "closed.duplicate": (
        "O ticket #{ticket_id} foi encerrado como duplicado de outro ticket sobre a mesma "
        "solicitação."
    ),
    "closed.cancelled": "O ticket #{ticket_id} foi cancelado.",
    "closed.other": "O ticket #{ticket_id} foi encerrado.",
    "rate": "Qual é a sua satisfação com o nosso atendimento? Basta um clique:",
    "rating.1": "1 - Muito insatisfeito",
    "rating.2": "2 - Insatisfeito",
    "rating.3": "3 - Neutro",
    "rating.4": "4 - Satisfeito",
    "rating.5": "5 - Muito satisfeito",
    "reminder": (
        "Ainda aguardamos a sua resposta para continuar com o ticket #{ticket_id}. "
        "Responda a este e-mail; sem resposta, o ticket será encerrado por inatividade."
    ),
    "transcript": "Segue a transcrição da sua conversa de {date} (ticket #{ticket_id}):",
    "view": "Ver o ticket online",
    "footer": ("Você recebe este e-mail porque pediu ajuda ou foi copiado no ticket #{ticket_id}."),
    "footer.transcript": (
        "Você recebe este e-mail porque ele foi solicitado ao final de uma conversa conosco."
    ),
}
