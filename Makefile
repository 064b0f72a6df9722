# Every target creates and uses .venv itself: `make demo` and `make test` are the whole set-up.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)
export NUMBA_CACHE_DIR := $(CURDIR)/$(VENV)/numba-cache

.PHONY: demo test bench bench-cuda verify verify-cuda ptx docs formats-doc clean data

$(STAMP): setup.cfg pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,bench,data]"
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_encode.py --write docs/performance.md
	$(BIN)/python benchmarks/bench_ops.py --append docs/performance.md
	$(BIN)/python benchmarks/bench_blocks.py --append docs/performance.md
	$(BIN)/python benchmarks/bench_dot.py --append docs/performance.md

verify: $(STAMP)
	$(BIN)/python tests/long/verify_fp16_pairs.py

# The CUDA backend on a real GPU: parity with the CPU on large inputs, and throughput next to torch.
verify-cuda: $(STAMP)
	NUMBA_ENABLE_CUDASIM=0 $(BIN)/python tests/long/verify_cuda.py

bench-cuda: $(STAMP)
	NUMBA_ENABLE_CUDASIM=0 $(BIN)/python benchmarks/bench_cuda.py --write docs/performance_cuda.md

# Every CUDA kernel compiled to PTX (needs NVVM and NVRTC, no GPU) and checked for float instructions.
ptx: $(STAMP)
	NUMBA_ENABLE_CUDASIM=0 $(BIN)/python -m bitsim.kernels.cuda_ptx --cc 9.0

docs formats-doc: $(STAMP)
	$(BIN)/python -m bitsim.formats.cards docs/formats.md
	$(BIN)/python docs/experiments/accumulation_length.py

# Fashion-MNIST for nets.data (Debian/Ubuntu package; needs root). A failure is only a notice.
data:
	@if [ -d /usr/share/datasets/fashion-mnist ]; then \
		echo "Fashion-MNIST present in /usr/share/datasets/fashion-mnist"; \
	elif apt-get install -y dataset-fashion-mnist; then \
		echo "Fashion-MNIST installed in /usr/share/datasets/fashion-mnist"; \
	else \
		echo "NOTICE: could not install dataset-fashion-mnist (no apt-get, no root, or no package index)."; \
		echo "NOTICE: install it yourself, or point BITSIM_DATA_FASHION_MNIST at a directory of its IDX files."; \
	fi

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
