@monitoring
Feature: Monitoring, alerting and backups in operation
  Production is watched: the checklist's thresholds are the target's own Prometheus
  alerting rules, its Prometheus scrapes the service, its Alertmanager routes every alert
  to someone, its logs find any delivery by event id, its errors reach an error sink, and
  the daily checks and weekly reviews run as jobs. On the embedded default the harness
  runs real Prometheus, Alertmanager and node_exporter itself (their clock 60 times
  faster: a rule's minute is a second there); against a deployment these lines read its
  own (--prometheus-url, --alertmanager-url, --loki-url) and are not measured without them.

  @alert_thresholds @severity_critical
  Scenario Outline: An alert fires when <condition>
    Given the target's alerting rules
    Then the rule "<alert>" exists with a severity, a summary and a runbook link
    And on the checklist's metrics "<alert>" fires just above <threshold> of <measure> and stays quiet just below, past its hold time

    Examples:
      | condition                          | alert                     | measure          | threshold      |
      | webhook failures exceed 1%         | WebhookFailureRateHigh    | failure share    | 1%             |
      | database connections fail          | DatabaseConnectionErrors  | database errors  | 1 error        |
      | Redis connections fail             | RedisConnectionErrors     | redis errors     | 1 error        |
      | the restore drill fails            | RestoreDrillFailed        | drill result     | 1 failed drill |
      | webhook latency exceeds 10 seconds | WebhookLatencyP99Above10s | p99 latency      | 10 s           |
      | requests fail unexpectedly         | UnhandledErrors           | unhandled errors | 1 error        |

  @alert_rules_tested @severity_critical
  Scenario: Every alerting rule passes promtool's checks and unit tests
    Given the target's alerting rule files
    Then promtool accepts the rules
    And promtool's unit tests of the rules pass
    And the unit tests make each of these alerts fire, and keep it quiet past its hold time:
      | alert                     |
      | WebhookFailureRateHigh    |
      | DatabaseConnectionErrors  |
      | RedisConnectionErrors     |
      | RestoreDrillFailed        |
      | WebhookLatencyP99Above10s |
      | UnhandledErrors           |

  @alerting_configured @severity_critical
  Scenario: Alertmanager's configuration is valid and routes every alert to someone
    Given the target's alerting rules
    And the target's Alertmanager configuration
    Then amtool accepts the configuration
    And amtool routes every alert of the rules to a receiver that notifies someone

  @monitoring_enabled @severity_critical
  Scenario: The target is scraped, up, and a delivery moves its series in Prometheus
    Given the target's Prometheus
    Then Prometheus scrapes the service and every instance is up
    And a capture raises the accepted deliveries Prometheus records for its gateway

  @key_metrics @severity_critical
  Scenario Outline: Key metric: <metric> <threshold> over the run's window
    The restore drill success rate is read twice: from the drill's metrics in Prometheus
    over the run's window, and from the drill's history over the last 28 days.

    Given the target's Prometheus
    And 40 signed captures have been delivered in this run
    When Prometheus is asked for the key metric "<metric>" over the run's window
    Then the key metric "<metric>" is <threshold>

    Examples:
      | metric                          | threshold |
      | webhook processing success rate | > 99%     |
      | payment processing latency      | < 5 s     |
      | restore drill success rate      | = 100%    |
      | system uptime                   | > 99.9%   |
      | error rate                      | < 0.1%    |

  @log_aggregation @severity_critical
  Scenario: A delivery's log entry is found by its event id in the aggregated logs
    Given the target's aggregated logs
    When a capture for a new payment is delivered
    Then its log entry is found by its event id with gateway, type, outcome, status, latency and instance
    And no secret or signature appears in the logs

  @daily_checks @severity_normal
  Scenario Outline: Daily check: <check>
    Given the daily checks have run on the target
    Then the daily check "<check>" was measured and is within <threshold>

    Examples:
      | check                   | threshold       |
      | webhook processing logs | >= 99%          |
      | payment success rates   | the key metrics |
      | error logs review       | the key metrics |
      | backup verification     | 26 h            |
      | system health checks    | the key metrics |

  @weekly_reviews @severity_normal
  Scenario Outline: Weekly review: <review>
    Given the weekly review has run on the target
    Then the weekly review "<review>" was measured and is within <threshold>
    And its plots are attached to the report

    Examples:
      | review                | threshold       |
      | restore drill results | 25%             |
      | performance metrics   | the key metrics |
      | security scan results | 7 days          |
      | error trend analysis  | the key metrics |
      | capacity planning     | >= 50%          |

  @error_monitoring @severity_critical
  Scenario: Unhandled errors are counted, reported to the error sink and alerted on
    Given the target's Prometheus
    And the target's alerting rules
    Then the service says an error sink is configured, without showing it
    And the service exposes unhandled_errors_total and a rule alerts on it
    When a delivery meets an unexpected error in the service
    Then the error sink receives the report with its event id and no secret
    And unhandled_errors_total in Prometheus counts it

  @alert_delivery @severity_critical
  Scenario Outline: The <alert> alert reaches its receiver when <condition>
    Given the target's Prometheus and Alertmanager
    And the alert "<alert>" is quiet on the target
    When <condition>, for real
    Then the alert "<alert>" fires in Prometheus on the target's own metrics
    And it reaches its receiver with its labels, summary and runbook link

    Examples:
      | alert                     | condition                                                      |
      | WebhookFailureRateHigh    | PayPal's verification API fails while PayPal deliveries arrive |
      | DatabaseConnectionErrors  | the database is stopped while deliveries arrive                |
      | RedisConnectionErrors     | Redis is stopped while the status is polled                    |
      | WebhookLatencyP99Above10s | PayPal's verification API takes 11 seconds to answer           |
      | RestoreDrillFailed        | a restore drill runs on a corrupted backup                     |
      | UnhandledErrors           | deliveries meet an unexpected error in the service             |

  @backup_retention @severity_critical
  Scenario: Backups are configured and retention is enforced
    When the restore drill runs on the newest backup
    And the infrastructure verification playbook runs
    Then it finds PostgreSQL and Redis answering and the backup folder private
    And no more backups are kept than the inventory's retention allows
    And a backup run prunes a folder holding more old backups than the retention down to the retention
