@restore_drill
Feature: Restore drill
  Backups are only as good as the last restore. Every week the drill takes the newest
  backup, checks it, snapshots the target, restores into a scratch database, verifies
  the data against the row counts the backup recorded in its own snapshot, the cache and
  writes, cleans up, and reports restore time (RTO) and data age (RPO). A drill that
  cannot prove every check fails loudly. On a fleet (an inventory) every line but the
  workflow's runs on every database host, and holds only when it holds on each.

  @weekly_auto_drill @severity_critical
  Scenario: A CI workflow runs the restore drill every Monday at 05:00 UTC
    When the restore drill workflow is read
    Then actionlint finds nothing wrong with it, so GitHub will run it
    And it is scheduled with cron "0 5 * * 1"
    And it can also be started by hand
    And one of its jobs runs the drill and uploads the drill report, also when the drill fails

  @verification_passes @severity_blocker
  Scenario: Every drill check passes and the drill says so
    When the restore drill runs on the newest backup
    Then the drill exits zero and prints every line from start to "---- RESTORE DRILL PASSED ----"
    And the drill report marks every check as passed, with the restore time and the data age

  @verification_fails_loudly @severity_blocker
  Scenario Outline: A <damage> newest backup makes the drill fail loudly and harmlessly
    When the restore drill runs on a <damage> newest backup
    Then the drill exits non-zero and prints "---- RESTORE DRILL FAILED ----"
    And the failure names the backup file and the reason
    And the live database holds exactly the same rows as before
    And no scratch database is left behind

    # "re-checksummed": the checksum file was rewritten after the damage (a dump that died
    # mid-write and was then checksummed), so only pg_restore or the data check can tell.
    Examples:
      | damage                       |
      | corrupted                    |
      | truncated                    |
      | empty                        |
      | missing                      |
      | corrupted and re-checksummed |
      | truncated and re-checksummed |

  @backup_integrity @severity_blocker
  Scenario: The newest backup is complete and valid
    When the restore drill runs on the newest backup
    Then the newest backup file exists, is not empty and only its owner can read it
    And its sha256 matches the checksum file beside it
    And its manifest records every table's row count, taken in the dump's own snapshot
    And the drill listed its table of contents and restored it

  @safety_snapshot @severity_critical
  Scenario: A safety snapshot of the target is taken before anything is restored
    When the restore drill runs on the newest backup
    Then the drill printed the safety snapshot before the restore
    And the snapshot file exists and is not empty

  @data_verification @severity_blocker
  Scenario: Cards, purchases and artists exist after the restore, with counts
    When the restore drill runs on the newest backup
    Then the restored counts of cards, purchases and artists are the ones the backup recorded
    And every restored table holds exactly the rows the backup recorded

  @redis_connectivity @severity_critical
  Scenario: The cache answers after the restore
    When the restore drill runs on the newest backup
    Then the drill found Redis reachable
    And PostgreSQL listens on the database host and Redis on the cache host

  @write_capability @severity_critical
  Scenario: The database accepts writes after the restore
    When the restore drill runs on the newest backup
    Then the drill confirmed the restored database accepts writes
