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

  @attested @user_acceptance_testing @severity_normal
  Scenario: User acceptance testing is signed off
    Given the human item "user_acceptance_testing" is signed off in the attestations file
    Then the sign-off names who, when, and a link to the evidence
    And the sign-off is recent enough

  @attested @on_call_rota @severity_normal
  Scenario: An on-call rota covers the launch
    Given the human item "on_call_rota" is signed off in the attestations file
    Then the sign-off names who, when, and a link to the evidence
    And the sign-off is recent enough
