"""`tools attempt`: attempt hubs with honest evidence (specs/attempt_reports.md).

names.py           slugs, run names, known item IDs
records.py         the pydantic models of attempt.json
store.py           where records live; the current-attempt pointer
evidence.py        running a command: tee, clock, git and environment facts
pytest_outcome.py  what a pytest run did (JUnit XML, terminal summary)
verdicts.py        is a run the evidence that was asked for
capture.py         `run` and `collect`
artifacts.py       `artifact`
lifecycle.py       `start`, `block`, `finish`
summary.py         summary.md from the record
queries.py         `show`, `list`, `verify`
cli.py             the Typer verbs over the above
"""
