"""The one model of BOSH that the lab, the release lint and ``--target bosh`` share.

- :mod:`.ops`: ops files with go-patch's semantics and messages (``bosh int -o``);
- :mod:`.variables`: ``((variables))``, ``--var`` values and a vars store (``bosh int -v/--vars-store``);
- :mod:`.manifest`: ``bosh int`` as a whole, and the parsed deployment (instance groups, instances, jobs);
- :mod:`.jobspec`, :mod:`.releases`: job specs, this release's and the other releases' jobs;
- :mod:`.links`: link providers and consumers, resolved as the director resolves them;
- :mod:`.render` (with ``render.rb``), :mod:`.director`: a job's templates rendered with real Ruby ERB.
"""
