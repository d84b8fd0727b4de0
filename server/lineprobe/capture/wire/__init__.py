"""The capture layer's wire: the one place where the server meets the agent's code.

``convert`` decodes the agent's messages (``lineprobe_agent.protocol``) into the
server's domain types; ``parameters`` is the table of the wire's parameter
bounds and defaults (plain literals, cheap to import for the CLI's options).
Nothing else in the server imports the agent: import-linter holds every other
module to it. This package's own ``__init__`` imports nothing, so the CLI can
take ``parameters`` without loading the schema.
"""
