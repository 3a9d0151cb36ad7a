"""Payment gateways as the harness plays them: events built and signed the way Stripe,
PayPal and Standard Webhooks sign them, the PayPal API stand-in, and the HTTP clients
that deliver events and read the admin API. May import settings/."""
