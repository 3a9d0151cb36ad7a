"""Monitoring evidence, and the real monitoring parts of the embedded default.

Rules (`rules`, `rule_checks`: read from files or a Prometheus, judged with promtool),
Prometheus and Alertmanager clients (`prometheus`, `alertmanager`: amtool too), the
embedded Prometheus, Alertmanager and node_exporter with the harness's alert receiver
(`embedded`, `receiver`), the error sink (`error_sink`), key metrics as PromQL
(`keymetrics`), aggregated logs (`logs`), drill history (`history`), and the daily and
weekly reviews (`reviews`). May import settings/ and target/ (ports, private folders).
"""
