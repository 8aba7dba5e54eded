"""Chatdesk's durable side: tickets, business hours, SLA, surveys — usable without chat."""
