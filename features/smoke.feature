@smoke
Feature: Smoke test of the six business rules
  A quick pass over the six rules that must hold on every deploy, through every gateway
  the target uses: one pack per capture, the pack's size, no double delivery, a refund
  revokes all, every event audited, unsigned webhooks rejected. If any fails, stop the
  release.

  @one_pack_per_capture @severity_blocker
  Scenario Outline: One <gateway> capture delivers one pack
    Given a new <gateway> payment by user "101" for a "black" pack
    When the gateway reports the payment as captured
    Then the service answers that the payment was captured with 5 cards
    And the purchase holds exactly 5 live cards for user "101"

    Examples:
      | gateway  |
      | stripe   |
      | paypal   |
      | standard |

  @pack_size @severity_blocker
  Scenario Outline: A <pack> pack bought through <gateway> holds <cards> cards
    Given a new <gateway> payment by user "102" for a "<pack>" pack
    When the gateway reports the payment as captured
    Then the service answers that the payment was captured with <cards> cards
    And the purchase holds exactly <cards> live cards for user "102"

    Examples:
      | gateway  | pack     | cards |
      | stripe   | black    | 5     |
      | stripe   | gold     | 3     |
      | stripe   | platinum | 10    |
      | paypal   | black    | 5     |
      | paypal   | gold     | 3     |
      | paypal   | platinum | 10    |
      | standard | black    | 5     |
      | standard | gold     | 3     |
      | standard | platinum | 10    |

  @no_double_delivery @severity_blocker
  Scenario Outline: A <gateway> payment captured twice delivers once
    Given a <gateway> payment by user "103" for a "black" pack has been captured
    When a second, different capture event arrives for the same payment
    Then the service answers that the payment is a duplicate
    And the purchase holds exactly 5 live cards for user "103"

    Examples:
      | gateway  |
      | stripe   |
      | paypal   |
      | standard |

  @refund_revokes_all @severity_blocker
  Scenario Outline: A <gateway> refund revokes all cards of the pack
    Given a <gateway> payment by user "104" for a "black" pack has been captured
    When the gateway reports the payment as refunded
    Then the purchase is marked refunded with all 5 cards revoked

    Examples:
      | gateway  |
      | stripe   |
      | paypal   |
      | standard |

  @every_event_audited @severity_critical
  Scenario Outline: Every <gateway> event is audited
    Given a <gateway> payment by user "105" for a "black" pack has been captured
    When the gateway reports the payment as refunded
    Then the audit trail for the payment lists, oldest first:
      | type             | outcome  |
      | payment.captured | accepted |
      | payment.refunded | accepted |

    Examples:
      | gateway  |
      | stripe   |
      | paypal   |
      | standard |

  @unsigned_rejected @severity_blocker
  Scenario Outline: An unsigned <gateway> webhook is rejected and delivers nothing
    Given a new <gateway> payment by user "106" for a "black" pack
    When an unsigned capture event arrives for the payment
    Then the service refuses it as unauthorized
    And no purchase exists for the payment

    Examples:
      | gateway  |
      | stripe   |
      | paypal   |
      | standard |
