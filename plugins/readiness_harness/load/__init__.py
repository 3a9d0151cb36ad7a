"""Load and performance tests: Locust user classes that send pre-signed deliveries, the
runner for headless and distributed Locust, the exactly-once check on every payment a run
sent, and the timed bursts of the latency and success-rate lines.

Locust (and so gevent's monkey-patching) is imported only by `locustfile.py`, which runs in
Locust's own processes; every other module here is safe to import in pytest or the CLI.
May import settings/, gateways/ and target/.
"""
