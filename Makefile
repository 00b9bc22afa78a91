# The two set-up commands of the README:
#   make serve   install and run the server on the embedded defaults (SQLite, in-process events)
#   make test    install the test extras and run the whole suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
TSTAMP  = $(VENV)/.installed-test

.PHONY: serve test install install-test assets lint schema bench clean mutate mutate-owners

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e .
	@touch $@

$(TSTAMP): $(STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	@touch $@

install: $(STAMP)
	-@$(MAKE) --no-print-directory assets

install-test: $(TSTAMP)
	-@$(MAKE) --no-print-directory assets
	@./scripts/install-test-tools.sh
	@./scripts/install-browser-test.sh
	@./scripts/lnd-protos.sh
	@./scripts/install-typed-client.sh

## GraphiQL's JS/CSS from npm (pinned, lockfile, integrity-checked); skipped where npm is absent.
assets:
	@if command -v npm >/dev/null 2>&1; then ./scripts/build-graphiql.sh; \
	else echo "npm not found: GraphiQL assets not installed (the API works; the IDE page says how to add them)"; fi

serve: install
	$(BIN)/mbf serve

test: install-test
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q --cov --cov-report=term:skip-covered

## Mutation testing (cosmic-ray) of the critical modules, or of MODULES="app/x.py ..."; see docs/testing.md.
mutate: install-test
	$(BIN)/python scripts/mutate.py $(MODULES)

## Owner-filter mutation: each user filter of the owner-scoped queries dropped in turn; see docs/testing.md.
mutate-owners: install-test
	$(BIN)/python scripts/mutate_owners.py $(MODULES)

lint: install-test
	$(BIN)/ruff check . && $(BIN)/mypy app schema resolvers subscriptions

schema: install
	$(BIN)/mbf schema export -o schema.graphql

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache web/graphiql/node_modules app/http/static/graphiql \
		clients/typed/node_modules clients/typed/dist clients/typed/src/generated
