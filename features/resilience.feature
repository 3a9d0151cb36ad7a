@resilience
Feature: Resilience to outages
  PostgreSQL is the source of truth: while it is down, deliveries are refused with 503
  so the gateways retry them, and nothing is half-written. Redis is only a cache: the
  service keeps delivering without it. A crashed service loses nothing: the gateways'
  retries deliver every pack exactly once.
  These scenarios stop and kill servers, so the harness runs them on servers it starts
  itself; against a deployed target they are not measured.

  @database_outage @severity_critical
  Scenario: Deliveries during a PostgreSQL outage are refused, then succeed exactly once
    Given a service on servers the harness controls
    And 3 payments have been captured
    When PostgreSQL stops
    And the gateway delivers captures for 5 new payments
    Then every one of those deliveries is refused with 503
    And the service reports the database as down
    When PostgreSQL is back
    Then none of the 5 new payments has a purchase yet
    When the gateway retries every delivery
    Then every one of the 8 payments has exactly one pack of 5 live cards

  @redis_outage @severity_normal
  Scenario: Deliveries continue while Redis is down
    Given a service on servers the harness controls
    When Redis stops
    Then the service reports redis as down
    When the gateway delivers captures for 5 new payments
    Then every one of the 5 payments has exactly one pack of 5 live cards
    When Redis is back
    Then the service reports every dependency as ok

  @crash_recovery @severity_critical
  Scenario: A service killed mid-delivery loses nothing once the gateway retries
    Given a service on servers the harness controls
    When the gateway delivers captures for 60 new payments at once and the service is killed meanwhile
    And the service is restarted
    And the gateway retries every delivery
    Then every one of the 60 payments has exactly one pack of 5 live cards
