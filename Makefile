# privacydesk: `make demo` runs the demo, `make test` runs the whole test suite. Both install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out

.PHONY: install demo test lint typecheck clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# The demo runs on the embedded PostgreSQL (in PRIVACYDESK_DATA_DIR) unless PRIVACYDESK_DATABASE_URL is set.
# The admin password is taken from PRIVACYDESK_ADMIN_PASSWORD, or generated and printed once.
DEMO_POLICY ?= examples/imou/policy.yaml
DEMO_ADMIN ?= admin@example.com

demo: install
	@mkdir -p $(OUT)
	@echo "== Linting the five example policies (registratura's consent-by-use clause is reported on purpose)"
	-$(BIN)/privacydesk check examples/*/policy.yaml
	@echo "== Rendering the record of processing and the privacy notices of $(DEMO_POLICY) into $(OUT)/"
	$(BIN)/privacydesk ropa $(DEMO_POLICY) --format xlsx --output $(OUT)/ropa.xlsx
	$(BIN)/privacydesk ropa $(DEMO_POLICY) --format html --output $(OUT)/ropa.html
	@for lang in en pl ro fr cs; do \
		$(BIN)/privacydesk notice $(DEMO_POLICY) --lang $$lang --format html --output $(OUT)/notice.$$lang.html || exit 1; \
	done
	@echo "== Preparing the platform database"
	$(BIN)/privacydesk db upgrade
	$(BIN)/privacydesk policy publish $(DEMO_POLICY) --publisher demo
	@if [ -n "$$PRIVACYDESK_ADMIN_PASSWORD" ]; then \
		$(BIN)/privacydesk user create --email $(DEMO_ADMIN) --name Admin --role owner --password-env PRIVACYDESK_ADMIN_PASSWORD --exists-ok; \
	else \
		$(BIN)/privacydesk user create --email $(DEMO_ADMIN) --name Admin --role owner --generate-password --exists-ok; \
	fi
	@echo "== Serving (Ctrl-C to stop)"
	$(BIN)/privacydesk serve

lint: install
	$(BIN)/ruff check src tests examples
	$(BIN)/ruff format --check src tests examples

typecheck: install
	$(BIN)/mypy

test: install lint typecheck
	$(BIN)/pytest

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache .ruff_cache

-include mk/*.mk
