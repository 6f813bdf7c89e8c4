# `make catalogs`: extract every translatable message into the template, then merge it into the
# catalog of each language (created when missing). Translate the new entries afterwards.
LOCALE_DIR := src/privacydesk/locale
CATALOG_LANGUAGES := pl ro fr cs
PYBABEL ?= $(BIN)/pybabel

.PHONY: catalogs

catalogs: install
	mkdir -p $(LOCALE_DIR)
	$(PYBABEL) extract --mapping-file babel.cfg --output-file $(LOCALE_DIR)/privacydesk.pot \
		--project privacydesk --version $(shell $(BIN)/python -c "import privacydesk; print(privacydesk.__version__)") --copyright-holder "privacydesk contributors" \
		--add-comments Translators: --add-location file --sort-by-file --width 100 src
	for lang in $(CATALOG_LANGUAGES); do \
		$(PYBABEL) update --input-file $(LOCALE_DIR)/privacydesk.pot --output-dir $(LOCALE_DIR) \
			--domain privacydesk --locale $$lang --init-missing --no-fuzzy-matching --ignore-obsolete \
			--width 100 || exit 1; \
	done
