"""Settings: every option as a CLI flag, an ini key and an environment variable, resolved
once (command line -> environment -> ini -> default) into typed settings; and secrets,
values that redact themselves wherever they are printed. Imports nothing else of the harness."""
