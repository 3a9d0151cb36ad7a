@smoke
Feature: Smoke test of the six business rules
  A quick pass over the rules that must hold on every deploy, through the standard
  payment endpoint. If any of these fails, stop the release.

  @one_pack_per_capture @severity_blocker
  Scenario: One capture delivers one pack
    Given a new standard payment by user "101" for a "black" pack
    When the gateway reports the payment as captured
    Then the service answers that the payment was captured with 5 cards
    And the purchase holds exactly 5 live cards for user "101"

  @pack_size @severity_blocker
  Scenario Outline: A <pack> pack holds <cards> cards
    Given a new standard payment by user "102" for a "<pack>" pack
    When the gateway reports the payment as captured
    Then the service answers that the payment was captured with <cards> cards
    And the purchase holds exactly <cards> live cards for user "102"

    Examples:
      | pack     | cards |
      | black    | 5     |
      | gold     | 3     |
      | platinum | 10    |

  @no_double_delivery @severity_blocker
  Scenario: A payment captured twice delivers once
    Given a standard payment by user "103" for a "black" pack has been captured
    When a second, different capture event arrives for the same payment
    Then the service answers that the payment is a duplicate
    And the purchase holds exactly 5 live cards for user "103"

  @refund_revokes_all @severity_blocker
  Scenario: A refund revokes all cards of the pack
    Given a standard payment by user "104" for a "black" pack has been captured
    When the gateway reports the payment as refunded
    Then the purchase is marked refunded with all 5 cards revoked

  @every_event_audited @severity_critical
  Scenario: Every event is audited
    Given a standard payment by user "105" for a "black" pack has been captured
    When the gateway reports the payment as refunded
    Then the audit trail for the payment lists, oldest first:
      | type             | outcome  |
      | payment.captured | accepted |
      | payment.refunded | accepted |

  @unsigned_rejected @severity_blocker
  Scenario: An unsigned webhook is rejected and delivers nothing
    Given a new standard payment by user "106" for a "black" pack
    When an unsigned capture event arrives for the payment
    Then the service refuses it as unauthorized
    And no purchase exists for the payment
