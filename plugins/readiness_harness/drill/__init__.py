"""The restore drill from Python: run the backup, drill and verification playbooks through
ansible-runner, read their reports back, and seed demo data. May import settings/ and target/."""
