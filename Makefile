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

demo: install
	@mkdir -p $(OUT)
	@echo "== Linting the five example policies"
	-$(BIN)/privacydesk check examples/*/policy.yaml
	@echo "== Rendering the record of processing and the privacy notices of examples/imou into $(OUT)/"
	$(BIN)/privacydesk ropa examples/imou/policy.yaml --format xlsx --output $(OUT)/imou-ropa.xlsx
	$(BIN)/privacydesk ropa examples/imou/policy.yaml --format html --output $(OUT)/imou-ropa.html
	@for lang in en pl ro fr cs; do \
		$(BIN)/privacydesk notice examples/imou/policy.yaml --lang $$lang --format html --output $(OUT)/imou-notice.$$lang.html || exit 1; \
	done
	@echo "== Done: open $(OUT)/imou-notice.pl.html or $(OUT)/imou-ropa.xlsx"

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
