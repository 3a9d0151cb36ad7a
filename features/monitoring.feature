@monitoring
Feature: Monitoring, alerting and backups in operation
  Production is watched: the thresholds of the checklist are Prometheus alerting rules
  kept in the repository, each proven by promtool unit tests to fire above its threshold
  and to stay quiet below it; backups are taken, kept within retention, and checked.

  @alert_thresholds @severity_critical
  Scenario Outline: An alert fires when <condition>
    Given the service's Prometheus alerting rules
    Then the rule "<alert>" exists with a severity and a summary
    And the unit tests of "<alert>" show it firing above the threshold and quiet below it

    Examples:
      | condition                              | alert                     |
      | webhook failures exceed 1%             | WebhookFailureRateHigh    |
      | database connections fail              | DatabaseConnectionErrors  |
      | Redis connections fail                 | RedisConnectionErrors     |
      | the restore drill fails                | RestoreDrillFailed        |
      | webhook latency exceeds 10 seconds     | WebhookLatencyP99Above10s |

  @alert_rules_tested @severity_critical
  Scenario: Every alerting rule passes promtool's checks and unit tests
    Given the service's Prometheus alerting rules
    Then promtool accepts the rules
    And promtool's unit tests of the rules pass

  @backup_retention @severity_critical
  Scenario: Backups are configured and retention is enforced
    When the restore drill runs on the newest backup
    And the infrastructure verification playbook runs
    Then it finds PostgreSQL and Redis answering and the backup folder private
    And no more backups are kept than the inventory's retention allows
    And a backup run prunes a folder holding more old backups than the retention down to the retention
