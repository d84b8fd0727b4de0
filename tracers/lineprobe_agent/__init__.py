"""lineprobe's privileged agent: bcc programs and their loaders.

It emits raw facts (addresses, counts, memory maps) over the protocol in
``lineprobe_agent.protocol`` and never resolves user addresses to source: that
is the unprivileged server's job.
"""
