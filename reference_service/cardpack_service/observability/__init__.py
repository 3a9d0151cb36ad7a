"""What the service tells operators: JSON log lines (one per delivery), and reports of
unhandled errors to an optional sink. Nothing here ever carries a secret, a signature or
a request body: values pass through `redaction.Redactor` on their way out."""
