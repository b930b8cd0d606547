# make test / make demo work on a fresh machine: each creates .venv and installs what is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.gen3d-installed
export NO_ALBUMENTATIONS_UPDATE := 1
export PYTHONUNBUFFERED := 1

.PHONY: install test demo demo-seg demo-gan demo-3d demo-depthgan demo-editing lint clean

install: $(STAMP)

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,deploy]'
	touch $(STAMP)

# the suite in parallel, one file per worker at a time (module fixtures built once), one torch thread per worker
TEST_WORKERS ?= auto
test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --maxprocesses 8 --dist loadfile tests

demo: $(STAMP)
	$(PY) tools/demo.py --work-dir work_dirs/demo

demo-seg: $(STAMP)
	$(PY) tools/demo_seg.py --work-dir work_dirs/demo_seg

demo-gan: $(STAMP)
	$(PY) tools/demo_gan.py --work-dir work_dirs/demo_gan

demo-3d: $(STAMP)
	$(PY) tools/demo_3d.py --work-dir work_dirs/demo_3d

demo-depthgan: $(STAMP)
	$(PY) tools/demo_depthgan.py --work-dir work_dirs/demo_depthgan

demo-editing: $(STAMP)
	$(PY) tools/demo_editing.py --work-dir work_dirs/demo_editing

lint: $(STAMP)
	$(VENV)/bin/ruff check gen3d tools tests configs

clean:
	rm -rf work_dirs build *.egg-info
