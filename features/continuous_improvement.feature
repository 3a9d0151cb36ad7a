@continuous_improvement
Feature: Continuous improvement
  The release keeps getting better without anyone having to remember: its pipelines test,
  deploy, monitor, verify backups and scan for vulnerabilities by themselves; its documents
  tell a newcomer and an operator on call what the API is, what to do when an alert
  fires, how to troubleshoot, how to start and how the parts fit; and it is tested for
  security, acceptance and disaster recovery (load and performance testing: the Load
  testing area). The automation lines read the deployment's CI workflows (--workflows, or
  those of --repository), and count only workflows GitHub would run (actionlint finds
  nothing wrong with them); the documentation lines read its repository (--repository) and
  the API document it serves.

  @automation @automated_deployment @severity_normal
  Scenario: An automated pipeline deploys every change to the default branch once its tests pass
    Given the target's CI workflows, checked with actionlint
    Then a job deploys the service on a push to the default branch, after a job that runs the tests

  @automation @automated_testing @severity_critical
  Scenario: An automated pipeline runs the tests on every change and every pull request
    Given the target's CI workflows, checked with actionlint
    Then a job runs the tests on every change, pull requests included

  @automation @automated_monitoring @severity_normal
  Scenario: Monitoring checks of the running deployment run on a schedule
    Given the target's CI workflows, checked with actionlint
    Then a scheduled job checks the running deployment

  @automation @automated_backup_verification @severity_critical
  Scenario: A scheduled job verifies the backups by restoring them
    Given the target's CI workflows, checked with actionlint
    Then a scheduled job runs the restore drill

  @automation @automated_security_scanning @severity_normal
  Scenario: A security scan runs on every change or on a schedule
    Given the target's CI workflows, checked with actionlint
    Then a job runs a security scanner on every change or on a schedule

  @documentation @api_documentation @severity_normal
  Scenario: The API documentation the target serves lists every route of the contract
    When the target's published OpenAPI document is read
    Then it documents every route of the contract:
      | method | path                    |
      | POST   | /webhooks/payments      |
      | POST   | /webhooks/stripe        |
      | POST   | /webhooks/paypal        |
      | GET    | /health                 |
      | GET    | /status                 |
      | GET    | /purchases/{payment_id} |
      | GET    | /audit                  |
      | GET    | /metrics                |
    And its version is the one the target reports in /status

  @documentation @runbooks @severity_normal
  Scenario: Every alert links a runbook page of the repository that names the checklist line it watches
    Given the target's alert rules and its repository
    Then every alert rule has a runbook_url
    And every runbook_url leads to a page of the repository, to a heading that exists
    And every runbook page names a line of the checklist

  @documentation @troubleshooting_guide @severity_normal
  Scenario: A troubleshooting guide is linked from the README
    Given the target's repository
    Then its README links to a troubleshooting guide of at least 3 sections

  @documentation @onboarding_guide @severity_normal
  Scenario: An onboarding guide is linked from the README
    Given the target's repository
    Then its README links to an onboarding guide of at least 3 sections

  @documentation @architecture_diagram @severity_normal
  Scenario: An architecture diagram in Mermaid, linked from the README, names the real components
    Given the target's repository
    Then its README links to an architecture document with a Mermaid diagram
    And the diagram names every component of the deployment:
      | component       | or                            |
      | webhook service | reference service, cardpack   |
      | PostgreSQL      | Postgres                      |
      | Redis           |                               |
      | Stripe          |                               |
      | PayPal          |                               |
      | load balancer   | HAProxy                       |
      | backups         | backup                        |
      | Prometheus      |                               |
      | Alertmanager    |                               |

  @testing @security_testing @after_suites @severity_critical
  Scenario: Security testing is completed: the webhook security lines passed and a fuzz run found no server error
    Then every line of the "Webhook security" area passed in this run
    When every route of the target's published API is fuzzed with 50 generated requests, webhooks signed
    Then no fuzzed request got a server error

  @testing @attested @user_acceptance_testing @severity_normal
  Scenario: User acceptance testing is signed off
    Given the human item "user_acceptance_testing" is signed off in the attestations file
    Then the sign-off names who, when, and a link to the evidence
    And the sign-off is recent enough

  @testing @disaster_recovery_testing @after_suites @severity_critical
  Scenario: Disaster recovery testing is completed: every restore drill and outage line passed in this run
    Then every line of the "Restore drill" and "Resilience to outages" areas passed in this run
