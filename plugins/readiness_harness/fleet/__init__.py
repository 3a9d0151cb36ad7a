"""The fleet: the database and cache hosts the backup and drill lines run on, read from an
Ansible inventory (`--inventory`), or the single local host of the embedded default; and
the parametrization that gives each of those lines one example per database host. May
import settings/, and drill.playbooks for the environment ansible-inventory runs in."""
