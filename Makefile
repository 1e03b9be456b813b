# anchorfree-d2: `make demo` (set up, train on the embedded dataset, evaluate, predict) and
# `make test` (the whole test suite on CPU; `make test-quick` leaves the slow tests out).
# Both set the environment up on first use.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= configs/FCOS/fcos_narrow_FPN_shapes_demo.py
# The split the demo draws its pictures from: the val split of the config's difficulty.
DEMO_DATASET ?= anchorfree_shapes_demo_val
OUTPUT ?= output/demo
STAMP := $(VENV)/.anchorfree-setup-done
# The pins of the installed Detectron2 (v0.6's, or what a source build needs), written by
# tools/install_detectron2.py.
D2_CONSTRAINTS := $(VENV)/detectron2-constraints.txt

.PHONY: setup demo test test-quick accuracy bench clean

setup: $(STAMP)

# torch 2.14.1/torchvision 0.29.1 come from the machine's wheel cache when present, else PyPI.
# They are PyPI's CUDA build (about 5.5 GB in the venv with its NVIDIA libraries: PyPI's
# torchvision needs it, also on CPU), so a venv without torch needs that much free disk first.
# A Detectron2 already installed in $(VENV) (e.g. built from its GitHub source) is kept.
TORCH_FREE_DISK_MB ?= 7000
$(STAMP): setup.py tools/install_detectron2.py tools/detectron2_v0.6_constraints.txt $(wildcard projects/*/*/__init__.py)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# pip 26.3 refuses the Detectron2 sdist's metadata (see tools/install_detectron2.py).
	$(PY) -m pip install "pip>=23,<26.3" wheel
	@$(PY) -c "import torch" 2>/dev/null || { free=$$(df -Pm $(VENV) | awk 'NR == 2 {print $$4}'); \
		test "$$free" -ge $(TORCH_FREE_DISK_MB) || { echo "make setup: installing torch needs about \
	$(TORCH_FREE_DISK_MB) MB of free disk for $(VENV), $$free MB are free here (df -h $(VENV))." >&2; exit 1; }; }
	$(PY) -m pip install --no-cache-dir torch==2.14.1 torchvision==0.29.1
	$(PY) tools/install_detectron2.py --constraints-out $(D2_CONSTRAINTS)
	$(PY) -m pip install -c $(D2_CONSTRAINTS) --no-build-isolation -e ".[test]"
	$(PY) -m anchorfree.compat --write-pth
	touch $(STAMP)

demo: setup
	$(PY) train_net.py --config-file $(CONFIG) train.output_dir=$(OUTPUT)
	$(PY) tools/demo.py --config-file $(CONFIG) --dataset $(DEMO_DATASET) --num-images 8 --confidence-threshold 0.5 \
		--output $(OUTPUT)/predictions train.init_checkpoint=$(OUTPUT)/model_final.pth

test: setup
	$(PY) -m pytest -q tests

# Everything but the tests marked slow (over-fits, multi-process and end-to-end runs).
test-quick: setup
	$(PY) -m pytest -q -m "not slow" tests

# Time to accuracy: every detector of tools/benchmarking/zoo.py (and the CenterNet neck
# ablation) trained from scratch on the embedded dataset for the same 30 training minutes on
# 2 cores, evaluated 6 times along the way, seeds 1 and 2 (about 7 hours in all; finished runs
# are kept in output/accuracy/runs and not trained again): the table and the AP-against-minutes
# plot in output/accuracy.
accuracy: setup
	$(PY) tools/train_accuracy.py

bench: setup
	$(PY) tools/benchmark.py

clean:
	rm -rf output
