@continuous_improvement @testing
Feature: Continuous improvement: load and performance testing
  The service is load-tested with Locust (`readiness load`): users send uniquely signed
  captures of new payments, some duplicate deliveries and some refunds, and afterwards every
  payment they sent is read back. A line runs a small load test itself, or reads the result
  of a bigger run against the same target given with --load-report.

  @load_testing @severity_normal
  Scenario: Load testing completed
    Given a load test result for the target from the last 7 days
    Then over 99% of its deliveries succeeded
    And its 99th percentile latency was under 5 seconds
    And every payment it sent holds exactly one pack, none live after a refund

  @performance_testing @severity_normal
  Scenario: Performance testing completed
    Given a load test result for the target from the last 7 days
    Then its 99th percentile latency was under 5 seconds
    And over 99% of its deliveries succeeded
    And every payment it sent holds exactly one pack, none live after a refund
