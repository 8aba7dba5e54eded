"""Chatdesk's live side: websocket hub, routing, transcripts, the app and its CLI."""
