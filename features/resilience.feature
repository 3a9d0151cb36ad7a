@resilience
Feature: Resilience to outages
  PostgreSQL is the source of truth: while it is down, deliveries are refused with 503
  so the gateways retry them, and nothing is half-written. Redis is only a cache: the
  service keeps delivering without it. A crashed service loses nothing: the gateways'
  retries deliver every pack exactly once.
  These scenarios stop the target's parts. On the embedded default the harness stops the
  servers it started itself; against a deployment they run only with its outage hooks
  (--outage-hooks) and --allow-disruption, and are not measured otherwise. Every part
  stopped is started again, also when a scenario fails or the run is interrupted.

  @database_outage @severity_critical
  Scenario: Deliveries during a PostgreSQL outage are refused, then succeed exactly once
    Given the target's database can be stopped and started
    And 3 payments have been captured
    When the target's database stops
    And the gateway delivers captures for 5 new payments at once
    Then every one of those deliveries is refused with 503
    And the service reports the database as down
    When the target's database is back
    Then none of the 5 new payments has a purchase yet
    When the gateway retries every delivery
    Then every one of the 8 payments has exactly one pack of 5 live cards

  @redis_outage @severity_normal
  Scenario: Deliveries continue while Redis is down
    Given the target's cache can be stopped and started
    When the target's cache stops
    Then the service reports redis as down
    When the gateway delivers captures for 5 new payments at once
    Then every one of the 5 payments has exactly one pack of 5 live cards
    When the target's cache is back
    Then the service reports every dependency as ok

  @crash_recovery @severity_critical
  Scenario: A service killed mid-delivery loses nothing once the gateway retries
    Given the target's service can be stopped and started
    When the gateway streams captures for new payments, 8 at a time and 100 a second, and the service is killed once 20 have been answered
    Then some deliveries were answered before the kill and others were cut off by it
    When the target's service is back
    And the gateway retries every delivery
    Then every one of those payments has exactly one pack of 5 live cards
    And every delivery answered before the kill was acknowledged as a duplicate on retry
