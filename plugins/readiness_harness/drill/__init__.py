"""The restore drill from Python: run the backup, drill and verification playbooks through
ansible-runner on every database host, damage copies of backups on the hosts, read the
evidence back, and seed demo data. May import settings/, target/ and fleet/ (the hosts)."""
