@security
Feature: Webhook security
  Only the payment gateways can tell the service that a payment happened. Anything else
  that reaches the webhook endpoints is refused with a clear status, written to the audit
  trail (without secrets or signatures), and changes nothing; the service stays healthy.

  @signature_required @severity_blocker
  Scenario Outline: A <gateway> capture with <defect> is refused with <status>
    Given a new <gateway> payment by user "201" for a "black" pack
    When its capture arrives with <defect>
    Then the service refuses it with status <status>
    And the refusal is in the audit trail without any secret or signature
    And nothing was delivered for the payment
    And the service is still healthy
    And the genuine capture still delivers the pack afterwards

    Examples: Signatures
      | gateway  | defect                                     | status |
      | standard | no signature                               | 401    |
      | stripe   | no signature                               | 401    |
      | paypal   | no signature                               | 401    |
      | standard | a garbage signature                        | 401    |
      | stripe   | a garbage signature                        | 401    |
      | paypal   | a garbage signature                        | 401    |
      | standard | a signature made with the wrong secret     | 401    |
      | stripe   | a signature made with the wrong secret     | 401    |
      | paypal   | a signature made with the wrong secret     | 401    |
      | standard | one byte of the body altered after signing | 401    |
      | stripe   | one byte of the body altered after signing | 401    |
      | paypal   | one byte of the body altered after signing | 401    |

    Examples: Outside the timestamp window of 300 seconds, past and future (30 s beyond it, so no clock tick decides)
      | gateway  | defect                                | status |
      | standard | a timestamp 330 seconds old           | 401    |
      | standard | a timestamp 330 seconds in the future | 401    |
      | stripe   | a timestamp 330 seconds old           | 401    |
      | stripe   | a timestamp 330 seconds in the future | 401    |
      | paypal   | a timestamp 330 seconds old           | 401    |
      | paypal   | a timestamp 330 seconds in the future | 401    |

    Examples: Bad input (Stripe carries its event id only in the body, so a Stripe body
      refused before it is read cannot be found in the audit trail: not an example)
      | gateway  | defect                                 | status |
      | standard | malformed JSON under a valid signature | 400    |
      | paypal   | malformed JSON under a valid signature | 400    |
      | standard | a body over 256 KiB                    | 413    |
      | paypal   | a body over 256 KiB                    | 413    |
      | standard | the content type text/plain            | 415    |
      | paypal   | the content type text/plain            | 415    |

  @timestamp_window @severity_critical
  Scenario Outline: A <gateway> capture signed <when> is still inside the 300-second window and accepted
    Given a new <gateway> payment by user "202" for a "black" pack
    When its capture arrives signed <when>
    Then the service answers that the payment was captured with 5 cards

    Examples: 30 seconds inside the window, past and future
      | gateway  | when                       |
      | standard | 270 seconds ago            |
      | standard | 270 seconds in the future  |
      | stripe   | 270 seconds ago            |
      | stripe   | 270 seconds in the future  |
      | paypal   | 270 seconds ago            |
      | paypal   | 270 seconds in the future  |

  @unknown_pack @severity_critical
  Scenario Outline: A <gateway> capture for an unknown pack type delivers nothing
    Given a new <gateway> payment by user "203" for a "diamond" pack
    When the gateway reports the payment as captured
    Then the service refuses it with status 422
    And the refusal is in the audit trail without any secret or signature
    And no purchase exists for the payment

    Examples:
      | gateway  |
      | standard |
      | stripe   |
      | paypal   |

  @unknown_event_type @severity_normal
  Scenario Outline: A <gateway> event of a type the service does not handle is acknowledged and audited
    Given a new <gateway> payment by user "204" for a "black" pack
    When the gateway sends a "<event_type>" event for the payment
    Then the service acknowledges it as ignored
    And the audit trail for the payment lists, oldest first:
      | type         | outcome |
      | <event_type> | ignored |
    And no purchase exists for the payment

    Examples:
      | gateway  | event_type               |
      | standard | payment.authorized       |
      | stripe   | customer.created         |
      | paypal   | CHECKOUT.ORDER.APPROVED  |

  @admin_token @severity_blocker
  Scenario Outline: The admin route <route> refuses <credential>
    Given a payment by user "205" for a "black" pack has been captured
    When the admin route <route> is called for the payment with <credential>
    Then the service refuses it with status 401
    And the answer reveals nothing about the payment

    Examples:
      | route      | credential  |
      | purchases  | no token    |
      | purchases  | a wrong token |
      | audit      | no token    |
      | audit      | a wrong token |
