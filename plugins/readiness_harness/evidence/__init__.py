"""Evidence a deployment keeps in files: its CI workflows (checked with actionlint), its
repository settings (branch protection), its security scan reports, and its documents
(README, runbooks, guides, the architecture diagram, the published OpenAPI). Each module
reads one kind of file and answers plain questions about it; the steps decide what a
checklist line requires. May import settings/ and paths; never target/ or gateways/."""
