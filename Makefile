# otlp-xray — developer entry points. See README.md.
SHELL := /bin/bash
CARGO ?= cargo
ARCH ?= x86_64
INVOCATIONS ?= 5

ifeq ($(ARCH),x86_64)
  TARGET := x86_64-unknown-linux-musl
else ifeq ($(ARCH),arm64)
  TARGET := aarch64-unknown-linux-musl
else
  $(error ARCH must be x86_64 or arm64)
endif

.PHONY: all build demo test layer layer-check bench clean

all: build

build:
	$(CARGO) build --bins --examples

## demo: the extension under the mock Lambda, a real OTel SDK function, over HTTP then gRPC.
demo: build
	@echo "=== OTLP/HTTP (protobuf) → otlp-xray → X-Ray, $(INVOCATIONS) invocations ==="
	./target/debug/mock-lambda --extension ./target/debug/otlp-xray \
	  --function ./target/debug/examples/demo-function \
	  --invocations $(INVOCATIONS) --protocol http --lambda-segments --print-documents 4 2>/dev/null
	@echo
	@echo "=== OTLP/gRPC → otlp-xray → X-Ray, $(INVOCATIONS) invocations ==="
	./target/debug/mock-lambda --extension ./target/debug/otlp-xray \
	  --function ./target/debug/examples/demo-function \
	  --invocations $(INVOCATIONS) --protocol grpc --lambda-segments 2>/dev/null

## test: formatting, lints, every unit and integration test.
test:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) build --bins --examples
	$(CARGO) test

## layer: static musl release build zipped as a Lambda layer (extensions/otlp-xray).
layer:
	ARCH=$(ARCH) TARGET=$(TARGET) bash layer/build.sh

## layer-check: build the layer, fail if the zip is over budget (4 MB), smoke-run the binary from
## the zip under the stand-in (arm64 through qemu-user-static).
layer-check: layer
	ARCH=$(ARCH) bash layer/check.sh

## bench: criterion benches (translate, codec), then the end-to-end figures under the stand-in
## (init vs the floor extension, memory, post-runtime, throughput) as one table.
bench:
	$(CARGO) build --profile bench --bins --examples
	$(CARGO) bench --bench translate --bench codec --bench processors
	$(CARGO) bench --bench lambda

clean:
	$(CARGO) clean
