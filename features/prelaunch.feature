@prelaunch
Feature: Pre-launch checklist
  The items the release manager ticks before the service takes real payments. The
  automated ones are measured against the target; the human ones are signed off in
  attestations.yml (who, when, a link to the evidence) and expire after max_age_days.

  @signature_verification @severity_blocker
  Scenario Outline: Webhook signature verification is enabled for <gateway>
    Given a new <gateway> payment by user "401" for a "black" pack
    When an unsigned capture event arrives for the payment
    Then the service refuses it as unauthorized
    And the service reports that webhook signatures are required

    Examples:
      | gateway  |
      | stripe   |
      | paypal   |
      | standard |

  @endpoints_reachable @severity_blocker
  Scenario Outline: The <gateway> webhook endpoint <path> is reachable
    When an empty delivery is posted to the <gateway> endpoint
    Then the endpoint answers with a client error, not a missing route or a server error

    Examples:
      | gateway  | path               |
      | standard | /webhooks/payments |
      | stripe   | /webhooks/stripe   |
      | paypal   | /webhooks/paypal   |

  @health_status @severity_blocker
  Scenario: Health and status report every dependency up
    When the health and status endpoints are read
    Then health answers ok
    And status reports the database and redis as ok, a version and row counts

  @gateway_secrets @severity_blocker
  Scenario Outline: The <gateway> webhook secret is configured
    Then the service reports that <gateway> deliveries can be verified
    And a <gateway> delivery signed with the shared secret is acknowledged

    Examples:
      | gateway  |
      | stripe   |
      | paypal   |
      | standard |

  @metrics_exposed @severity_critical
  Scenario: Metrics are exposed for scraping, and a delivery moves them
    When the metrics endpoint is scraped
    And a new payment by user "402" for a "black" pack is captured
    And the metrics endpoint is scraped again
    Then it exposes webhook_deliveries_total, webhook_latency_seconds and dependency_errors_total
    And the capture raised the accepted deliveries and the latency observations of its gateway

  @tls_certificate @severity_critical
  Scenario: The TLS certificate is trusted and valid for at least 14 more days
    When the target's TLS certificate is inspected
    Then it is trusted for the target's host name
    And it stays valid for at least 14 more days

  @suites_passed @after_suites @severity_blocker
  Scenario: The smoke and payment gateway suites passed in this run
    Then every smoke and gateway checklist line passed in this run

  @production_readiness_tests @after_suites @severity_blocker
  Scenario: The production-ready criteria passed in this run: every restore drill and gateway line
    Then every line of the "Restore drill" and "Payment gateway delivers packs exactly once" areas passed in this run

  @security_scan @severity_critical
  Scenario: The security scan of the release passed within the last 7 days
    Given the target's security scan reports
    Then the scan finished at most 7 days ago
    And the static analysis read every file and found no issue of medium or high severity
    And the dependency audit checked every dependency and found no known vulnerability that is not waived

  @branch_protection @severity_critical
  Scenario: Changes reach the default branch only reviewed, and after the tests and the readiness check passed
    Given the target's branch protection and its CI workflows, checked with actionlint
    Then at least 1 approving review is required
    And the required status checks include a job that runs the tests on pull requests
    And the required status checks include a job that runs the readiness check on pull requests
    And every required status check is a job of the workflows

  @redis_replication @severity_critical
  Scenario: The Redis cache is replicated and its replicas are in sync
    When the replication of the target's Redis is read
    Then Redis reports a primary with at least 1 replica online, a replica linked to its primary, or a healthy cluster
    And no replica is more than 5 seconds or 1024 KiB behind its primary

  @load_balancer @severity_critical
  Scenario: Requests through the load balancer reach at least two service instances
    When 20 health checks and 20 captures are sent through the load balancer
    Then at least 2 instances answered the health checks
    And every capture was acknowledged and delivered exactly one pack
    And each instance the harness can see behind the balancer took some of the captures

  @load_balancer_failover @severity_critical
  Scenario: Losing one instance behind the load balancer loses no delivery
    Given one instance behind the load balancer can be stopped and started
    When the gateway streams captures for 40 new payments through the load balancer, 4 at a time, and one instance is killed once 10 have been answered
    Then after the gateway's retries every one of the 40 payments has exactly one pack of 5 live cards
    And only the remaining instances answered while it was down
    When the stopped instance is back
    Then at least 2 instances answer through the load balancer again

  @attested @code_review @severity_critical
  Scenario: Code review of the release is completed
    Given the human item "code_review" is signed off in the attestations file
    Then the sign-off names who, when, and a link to the evidence
    And the sign-off is recent enough

  @attested @disaster_recovery_plan @severity_critical
  Scenario: A disaster recovery plan exists and is current
    Given the human item "disaster_recovery_plan" is signed off in the attestations file
    Then the sign-off names who, when, and a link to the evidence
    And the sign-off is recent enough

  @attested @on_call_rota @severity_normal
  Scenario: An on-call rota covers the launch
    Given the human item "on_call_rota" is signed off in the attestations file
    Then the sign-off names who, when, and a link to the evidence
    And the sign-off is recent enough
