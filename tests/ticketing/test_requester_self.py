"""Alt+T "Add me as requester": an agent opens a ticket on their own behalf (as in
Movidesk), with their own email as the requester's, through POST /api/tickets."""

from __future__ import annotations

from sqlalchemy import select

from tests.support import LiveDesk
from tests.ticketing.test_api import agent_http
from ticketing.models import Customer

BILLING = 3


async def test_an_agent_is_the_requester_of_their_own_ticket(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea", online=False)
    body = {
        "requester_email": bea.agent.email.upper(),  # as typed: the server lowercases it
        "requester_name": bea.agent.name,
        "service_id": BILLING,
        "subject": "My laptop won't boot",
        "message": "Since this morning's update.",
        "assign_to_me": False,
    }
    async with agent_http(desk, bea) as http:
        first = await http.post("/api/tickets", json=body)
        assert first.status_code == 201, first.text
        second = await http.post("/api/tickets", json={**body, "subject": "And the printer"})
        assert second.status_code == 201, second.text
        mine = (await http.get("/api/tickets", params={"q": "laptop"})).json()["items"]
    requester = first.json()["requester"]
    assert requester == {"id": requester["id"], "name": "Bea", "email": bea.agent.email}
    # The second ticket finds the same customer record: one requester per address.
    assert second.json()["requester"]["id"] == requester["id"]
    assert [t["id"] for t in mine] == [first.json()["id"]]
    async with desk.runtime.sessions() as session:
        customers = list(
            await session.scalars(select(Customer).where(Customer.email == bea.agent.email))
        )
    assert len(customers) == 1
