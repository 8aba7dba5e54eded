"""Load benchmark for Chatdesk: a generator that speaks the real protocol, and a baseline.

Every figure is measured twice in one run, with the same message schedule: against a
bare `websockets` relay (`bench.baseline_relay`, the physical limit of this machine,
this Python and this client) and against Chatdesk. Ratios to the baseline are what
stay comparable across machines; the absolute numbers are not. `python -m bench.run`.
`--targets baseline,floor,chatdesk` adds a third server (`bench.floor_relay`): the relay
plus only the work issue 3 requires of a message, so a ratio can be split into the
price of that work and the price of Chatdesk's code.
"""
