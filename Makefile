# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# `make demo` installs the two distributions of this checkout (editable): the plug-in package (plugin-host/,
# pyzmq only) and the engine that depends on it; `make test` adds the test extras (bpy, torch, transformers, ...).
DEMO_STAMP := $(VENV)/.installed-demo
# setuptools reports every editable install as a warning ("Editable installation. Please be careful with
# folders ..."): information, not a problem, and the only output a quiet install printed. Hidden; real
# warnings still show.
PIP := PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: demo test install bench clean blender-extension

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(DEMO_STAMP): pyproject.toml plugin-host/pyproject.toml | $(VENV)/bin/python
	@echo "make: installing the demo into $(VENV): the plug-in package and the engine (numpy, SciPy, PyAV,"
	@echo "make: OpenTimelineIO, pyzmq, ...): about 355 MB, under a minute with a warm pip cache"
	$(PIP) install -q -e ./plugin-host -e .
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml plugin-host/pyproject.toml $(DEMO_STAMP)
	@echo "make: installing the test extras into $(VENV): the CPU build of torch, transformers, diffusers, Ray,"
	@echo "make: Blender as a Python module (bpy), ONNX Runtime, OpenCV, ...: the environment grows to about"
	@echo "make: 3.2 GB; a few minutes, quiet until done (once: later runs go straight to the tests)"
	# The CPU build of torch (a plain `torch` would pull a multi-GB CUDA build).
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ./plugin-host -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(DEMO_STAMP)
	$(PY) -m foley_engine.lab.demo demo

test: $(STAMP)
	# A crashed test worker ends the run (with loadfile, a replaced worker can leave xdist waiting forever).
	$(PY) -m pytest -q -n 2 --dist loadfile --max-worker-restart=0

bench: $(STAMP)
	$(PY) benchmarks/longform.py

# The Blender extension zip (downloads pyzmq wheels for each OS into build/).
blender-extension: $(DEMO_STAMP)
	$(PY) blender_addon/build.py

clean:
	rm -rf $(VENV) demo .pytest_cache dist build
