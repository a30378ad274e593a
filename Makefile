# Convenience targets; the scripts do the work (and install Debian packages).
.PHONY: all build demo test asan bench docs clean
all: build
build:
	bash scripts/build.sh
demo:
	bash scripts/demo.sh
test:
	bash scripts/test.sh
asan:
	BUILD_DIR=build-asan bash scripts/test.sh -DCAIRN_SANITIZE="address;undefined"
bench:
	bash scripts/build.sh && bash bench/ingest.sh && bash bench/train.sh && bash bench/serve.sh
docs: build
	./build/cairn help --markdown > docs/cli.md
clean:
	rm -rf build build-asan build-fuzz demo .cairn
