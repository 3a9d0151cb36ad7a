@gateway
Feature: Payment gateway delivers packs exactly once
  Users buy packs of artist cards through Stripe, PayPal or any gateway that sends the
  standard payment event. Gateways retry deliveries, so the service must deliver each
  paid pack once, take it back on refund, and keep a record of every event it receives.

  @capture_once @severity_critical
  Scenario Outline: A captured <gateway> payment delivers exactly one pack
    Given a new <gateway> payment by user "1" for a "black" pack
    When the gateway reports the payment as captured
    Then the service answers that the payment was captured with 5 cards
    And the purchase holds exactly 5 live cards for user "1"

    Examples:
      | gateway  |
      | stripe   |
      | paypal   |
      | standard |

  @retry_safe @severity_critical
  Scenario Outline: Duplicate <gateway> deliveries, one after another, change nothing
    Given a <gateway> payment by user "2" for a "black" pack has been captured
    When the gateway delivers the same capture event 5 more times one after another
    Then every delivery is acknowledged as a duplicate
    And the purchase holds exactly 5 live cards for user "2"

    Examples:
      | gateway  |
      | stripe   |
      | paypal   |
      | standard |

  @retry_safe @severity_critical
  Scenario Outline: Duplicate <gateway> deliveries arriving at the same moment change nothing
    Given a new <gateway> payment by user "3" for a "black" pack
    When the gateway delivers the same capture event 25 times at once
    Then every delivery is acknowledged
    And exactly one delivery created the pack
    And the purchase holds exactly 5 live cards for user "3"

    Examples:
      | gateway  |
      | stripe   |
      | paypal   |
      | standard |

  @refund_revokes @severity_critical
  Scenario Outline: A <gateway> refund revokes every card of the purchase
    Given a <gateway> payment by user "4" for a "black" pack has been captured
    When the gateway reports the payment as refunded
    Then the service answers that 5 cards were revoked
    And the purchase is marked refunded with all 5 cards revoked

    Examples:
      | gateway  |
      | stripe   |
      | paypal   |
      | standard |

  @audit_logged @severity_normal
  Scenario Outline: Every <gateway> payment event is in the audit trail, accepted or not
    Given a <gateway> payment by user "5" for a "black" pack has been captured
    When the gateway delivers the same capture event 1 more times one after another
    And a forged capture event without a valid signature arrives for the payment
    And the gateway reports the payment as refunded
    Then the audit trail for the payment lists, oldest first:
      | type             | outcome   |
      | payment.captured | accepted  |
      | payment.captured | duplicate |
      | payment.captured | rejected  |
      | payment.refunded | accepted  |

    Examples:
      | gateway  |
      | stripe   |
      | paypal   |
      | standard |

  @early_refund @severity_critical
  Scenario Outline: A <gateway> refund that arrives before its capture is kept, and the late capture delivers no live cards
    Given a new <gateway> payment by user "6" for a "black" pack
    When the gateway reports the payment as refunded
    Then the refund is acknowledged
    When the gateway reports the payment as captured
    Then every delivery is acknowledged
    And the purchase is marked refunded with no live cards

    Examples:
      | gateway  |
      | stripe   |
      | paypal   |
      | standard |

  @processing_latency @severity_critical
  Scenario Outline: <gateway> payment processing latency is under 5 seconds at the 99th percentile
    Given the latency goal: 99% of payments processed in under 5 seconds
    When 200 signed captures of new <gateway> payments are sent, 8 in flight
    Then the burst meets the goal

    Examples:
      | gateway  |
      | stripe   |
      | paypal   |
      | standard |

  @processing_success_rate @severity_critical
  Scenario Outline: <gateway> webhook processing succeeds over 99% of the time with under 0.1% errors
    Given the success goal: over 99% of webhooks processed successfully and under 0.1% answered with a server error
    When 200 signed captures of new <gateway> payments are sent, 16 in flight
    Then the burst meets the goal
    And every payment of the burst holds exactly one pack of 5 cards

    Examples:
      | gateway  |
      | stripe   |
      | paypal   |
      | standard |
