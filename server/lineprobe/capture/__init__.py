"""The capture layer: between the front ends (``lsp``, ``cli``) and the domains.

It alone talks to the agent (``wire``), whatever stands in for it: a spawned
agent (``spawned``), a recorded one (``recorded``), later a service over a
socket. It owns the kinds of capture (``kinds``), their parameters
(``parameters``), progress and the capability report (``progress``), and runs a
capture end to end on a PID or a launched command (``runner``).
"""
