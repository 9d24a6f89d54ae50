# The two commands: `make run` starts the PBX on its embedded default, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint debian-deps bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP) debian-deps
	$(BIN)/centralita demo
	$(BIN)/centralita serve

debian-deps:
	@missing=""; \
	command -v sipp >/dev/null || missing="$$missing sip-tester"; \
	command -v baresip >/dev/null || missing="$$missing baresip"; \
	command -v espeak-ng >/dev/null || missing="$$missing espeak-ng"; \
	/sbin/ldconfig -p | grep -q 'libopus\.so\.0' || missing="$$missing libopus0"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check centralita tests bench
	$(BIN)/ruff format --check centralita tests bench
	$(BIN)/mypy

test: $(STAMP) debian-deps lint
	$(BIN)/pytest

bench: $(STAMP) debian-deps
	$(BIN)/python bench/parse_rate.py
	$(BIN)/python bench/call_rate.py

clean:
	rm -rf $(VENV) var/*.sqlite3* .mypy_cache .pytest_cache .ruff_cache
