# finetuned build.
#   make            build/finetuned
#   make test       unit + API tests (tests/run.sh prints "N passed, N failed")
#   make sanitize   the same suite built with ASan + UBSan into build-san/
#   make bench      benchmarks beside PyTorch (needs python3-torch)
#   make graph-bench  the forward pass of a resnet18-shaped graph (images/s)
#   make bench-tools build/bench/onnx_forward (bench/onnx_bench.sh runs it)
#   make fuzz-smoke short libFuzzer runs of every harness (clang-14)
#   make container-test  build the Dockerfile with podman and run the image,
#                   then deploy/docker-compose.yml with podman-compose
#   make demo       the transfer-learning experiment against a running server

BUILD   ?= build
CC      ?= gcc
PKGS     = jansson libpng libjpeg libarchive zlib openblas sqlite3 libpq libmicrohttpd nettle libprotobuf-c libcurl
# OPT may be overridden (make sanitize uses -O1); the rest always applies.
OPT     ?= -O3 -g
override CFLAGS += $(OPT) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I. -I$(BUILD)/gen $(shell pkg-config --cflags $(PKGS)) $(EXTRA_CFLAGS)
LDLIBS   = $(shell pkg-config --libs $(PKGS)) -lpthread -lm
override LDFLAGS += $(EXTRA_LDFLAGS)

# Sources follow the folders (docs/architecture.md): core/<module>/, server/ and
# server/<module>/[<backend>/].
CORE_SRC   = $(wildcard core/*/*.c)
SERVER_SRC = $(filter-out server/main.c,$(wildcard server/*.c server/*/*.c server/*/*/*.c))
TEST_SRC   = $(wildcard tests/unit/test_*.c)

CORE_OBJ   = $(CORE_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/onnx/onnx.pb-c.o
SERVER_OBJ = $(SERVER_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/ui_assets.o
TEST_BIN   = $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all test sanitize container-test bench bench-tools graph-bench fuzz-smoke demo clean
all: $(BUILD)/finetuned $(TEST_BIN) $(BUILD)/queue_bench bench-tools

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# ONNX's schema comes from Debian's libonnx-dev; its C parser is generated
# into <build>/gen at build time and never committed, so it always matches
# the installed protobuf-c. The pattern serves build/, build-san/ and
# build-fuzz/ alike (a pattern rule with two targets makes both at once).
ONNX_PROTO_DIR ?= /usr/include
%/gen/onnx/onnx.pb-c.c %/gen/onnx/onnx.pb-c.h: $(ONNX_PROTO_DIR)/onnx/onnx.proto
	@mkdir -p $*/gen
	protoc-c --proto_path=$(ONNX_PROTO_DIR) --c_out=$*/gen onnx/onnx.proto

$(BUILD)/gen/onnx/onnx.pb-c.o: $(BUILD)/gen/onnx/onnx.pb-c.c
	$(CC) $(CFLAGS) -c $< -o $@

# The dashboard (ui/) as a C array, generated at build time (tools/embed_ui.c):
# the binary serves it without reading files. No npm, no bundler.
UI_FILES = $(sort $(wildcard ui/*))
%/gen/embed_ui: tools/embed_ui.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -std=c11 -Wall -Wextra -Werror $< -o $@
.PRECIOUS: %/gen/embed_ui
%/gen/ui_assets.c: %/gen/embed_ui $(UI_FILES)
	$*/gen/embed_ui $@ $(UI_FILES)

$(BUILD)/gen/ui_assets.o: $(BUILD)/gen/ui_assets.c
	$(CC) $(CFLAGS) -c $< -o $@

# core/onnx and its tests include the generated header.
$(filter $(BUILD)/core/onnx/%,$(CORE_OBJ)) $(TEST_SRC:%.c=$(BUILD)/%.o): | $(BUILD)/gen/onnx/onnx.pb-c.h

# Archives are rebuilt whole: a renamed or removed source leaves no stale member.
$(BUILD)/libftcore.a: $(CORE_OBJ)
	rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/libftserver.a: $(SERVER_OBJ)
	rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/finetuned: $(BUILD)/server/main.o $(BUILD)/libftserver.a $(BUILD)/libftcore.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libftserver.a $(BUILD)/libftcore.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# The store-level queue benchmark (bench/queue_bench.sh runs it).
$(BUILD)/queue_bench: $(BUILD)/bench/queue_bench.o $(BUILD)/libftserver.a $(BUILD)/libftcore.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# The C side of bench/onnx_bench.sh; built with everything so that it keeps
# compiling against the core it measures.
bench-tools: $(BUILD)/bench/onnx_forward
$(BUILD)/bench/onnx_forward.o: | $(BUILD)/gen/onnx/onnx.pb-c.h
$(BUILD)/bench/onnx_forward: $(BUILD)/bench/onnx_forward.o $(BUILD)/libftcore.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

test: all
	FT_BUILD=$(BUILD) tests/run.sh

SAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
sanitize:
	$(MAKE) BUILD=build-san OPT="-O1 -g" EXTRA_CFLAGS="$(SAN_FLAGS)" EXTRA_LDFLAGS="$(SAN_FLAGS)" test

# The image built from this tree and run with podman, then the compose file
# on that image with podman-compose (tests/container/). Both run, each
# failure counts.
container-test:
	/usr/bin/python3 tests/container/test_container.py; status=$$?; \
	/usr/bin/python3 tests/container/test_compose.py && exit $$status

bench: all
	bench/run.sh

$(BUILD)/graph_bench: $(BUILD)/bench/graph_bench.o $(BUILD)/libftcore.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

graph-bench: $(BUILD)/graph_bench
	OPENBLAS_NUM_THREADS=$${OPENBLAS_NUM_THREADS:-1} $(BUILD)/graph_bench

# The transfer-learning experiment against a running server (examples/fashion_transfer.sh).
URL ?= http://127.0.0.1:8080
demo:
	examples/fashion_transfer.sh $(URL)

clean:
	rm -rf build build-san build-fuzz

-include $(filter-out $(BUILD)/gen/%,$(CORE_OBJ:.o=.d)) $(SERVER_OBJ:.o=.d) $(BUILD)/bench/queue_bench.d $(TEST_BIN:$(BUILD)/tests/%=$(BUILD)/tests/unit/%.d) $(BUILD)/server/main.d $(BUILD)/bench/onnx_forward.d
-include tests/fuzz/fuzz.mk
