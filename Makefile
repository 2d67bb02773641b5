# nova3r_ros: the two set-up commands of the README are `make test` and `make demo`.
# Each creates or reuses the project venv (.venv) and installs everything first.
VENV ?= .venv
PY := $(VENV)/bin/python
export AMENT_PREFIX_PATH := $(abspath $(VENV))
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST

.PHONY: setup test demo lint bench clean-venv

setup:
	@bash scripts/setup_env.sh $(VENV)

test: setup
	$(PY) -m pytest -q test

# synthetic 2-camera tabletop bag -> the node on the CPU (lock-step) -> out/demo/
demo: setup
	$(VENV)/bin/nova3r demo --out out/demo $(DEMO_ARGS)

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: setup
	$(PY) bench/conversions.py

clean-venv:
	rm -rf $(VENV)
