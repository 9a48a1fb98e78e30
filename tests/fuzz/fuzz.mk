# libFuzzer harnesses for the dataset parsers and the HTTP service (included
# by the Makefile). The targets follow the folders: one per dataset format
# file core/data/format_<name>.c (tests/fuzz/fuzz_format.c, built with
# FUZZ_FORMAT="<name>"), and one per other harness tests/fuzz/fuzz_<name>.c.
#   make fuzz          build build-fuzz/fuzz_<target> for every target
#   make fuzz-smoke    run each for FUZZ_TIME seconds (default 20); a crash fails
#   make fuzz-regress  run every corpus file once (the kept crashers included)
# Needs clang-14, libfuzzer-14-dev and libclang-rt-14-dev. Longer runs:
#   build-fuzz/fuzz_csv -max_total_time=600 build-fuzz/corpus/csv tests/fuzz/corpus/csv
# New inputs go to build-fuzz/corpus/<target>/, crashes to build-fuzz/artifacts/;
# copy a fixed crasher into tests/fuzz/corpus/<target>/ to keep it as a test.
# fuzz_http runs the whole service in-process (core/ and server/ built here
# too); its input format is described in tests/fuzz/fuzz_http_input.h.

FUZZ_CC      ?= clang-14
FUZZ_BUILD   ?= build-fuzz
FUZZ_TIME    ?= 20
FUZZ_FORMATS  = $(patsubst core/data/format_%.c,%,$(wildcard core/data/format_*.c))
FUZZ_HARNESS  = $(patsubst tests/fuzz/fuzz_%.c,%,$(filter-out tests/fuzz/fuzz_format.c,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_TARGETS  = $(FUZZ_FORMATS) $(FUZZ_HARNESS)
FUZZ_PKGS     = jansson libpng libjpeg libarchive zlib nettle
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# FT_FUZZING: libpng ignores chunk CRCs, so mutations reach the decoder
# instead of all failing the checksum.
FUZZ_CFLAGS   = -std=c11 -D_GNU_SOURCE -DFT_FUZZING -g -O1 -Wall -Wextra -Werror -I. -I$(FUZZ_BUILD)/gen \
                $(shell pkg-config --cflags $(PKGS)) $(FUZZ_SAN)
FUZZ_LIBS     = $(shell pkg-config --libs $(FUZZ_PKGS)) -lm
# The dataset parsers need core/util and core/data, nothing else.
FUZZ_CORE     = $(wildcard core/util/*.c core/data/*.c)
FUZZ_OBJ      = $(FUZZ_CORE:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_BINS     = $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
# The ONNX reader, linked with all of core/ (core/onnx also holds the
# importer and exporter, which need core/nn) and the parser generated from
# onnx.proto.
FUZZ_ONNX_PB  = $(FUZZ_BUILD)/gen/onnx/onnx.pb-c.o
FUZZ_ONNX_OBJ = $(CORE_SRC:%.c=$(FUZZ_BUILD)/%.o) $(FUZZ_ONNX_PB)
# The service: every core/ and server/ object but main.
FUZZ_HTTP_OBJ = $(CORE_SRC:%.c=$(FUZZ_BUILD)/%.o) $(SERVER_SRC:%.c=$(FUZZ_BUILD)/%.o) $(FUZZ_ONNX_PB) $(FUZZ_BUILD)/gen/ui_assets.o
# Per-target libFuzzer flags: the service logs every request on stderr.
FUZZ_ARGS_http = -close_fd_mask=2 -max_len=20000
# Seed corpus of a target: tests/fuzz/corpus/<target>, unless it shares one.
FUZZ_SEEDS_stored = safetensors
# target:seeds pairs for the loops below.
FUZZ_PAIRS    = $(foreach t,$(FUZZ_TARGETS),$(t):$(or $(FUZZ_SEEDS_$(t)),$(t)))

.PHONY: fuzz fuzz-regress

$(FUZZ_BUILD)/core/%.o: core/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/server/%.o: server/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_FORMATS:%=$(FUZZ_BUILD)/fuzz_%): $(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_format.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -DFUZZ_FORMAT='"$*"' -fsanitize=fuzzer $< $(FUZZ_OBJ) $(FUZZ_LIBS) -o $@

$(FUZZ_BUILD)/gen/ui_assets.o: $(FUZZ_BUILD)/gen/ui_assets.c
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_ONNX_PB): $(FUZZ_BUILD)/gen/onnx/onnx.pb-c.c
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(patsubst %.c,$(FUZZ_BUILD)/%.o,$(wildcard core/onnx/*.c)): | $(FUZZ_BUILD)/gen/onnx/onnx.pb-c.h

$(FUZZ_BUILD)/fuzz_onnx: tests/fuzz/fuzz_onnx.c $(FUZZ_ONNX_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_ONNX_OBJ) $(LDLIBS) -o $@

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_OBJ) $(FUZZ_LIBS) -o $@

$(FUZZ_BUILD)/fuzz_http: tests/fuzz/fuzz_http.c tests/fuzz/fuzz_http_input.h $(FUZZ_HTTP_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_HTTP_OBJ) $(LDLIBS) -o $@

fuzz: $(FUZZ_BINS)

fuzz-smoke: $(FUZZ_BINS)
	@mkdir -p $(FUZZ_BUILD)/artifacts
	@for p in $(FUZZ_PAIRS); do \
	    t=$${p%%:*}; seeds=tests/fuzz/corpus/$${p#*:}; [ -d $$seeds ] || seeds=; \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	    echo "== fuzz_$$t: $(FUZZ_TIME) s"; \
	    args=; [ $$t != http ] || args="$(FUZZ_ARGS_http)"; \
	    $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_TIME) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 $$args \
	        -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t- $(FUZZ_BUILD)/corpus/$$t $$seeds \
	        2>$(FUZZ_BUILD)/fuzz_$$t.log || { tail -n 60 $(FUZZ_BUILD)/fuzz_$$t.log; echo "FAIL fuzz_$$t"; exit 1; }; \
	    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' $(FUZZ_BUILD)/fuzz_$$t.log | tr '\n' ' '; \
	    echo; echo "PASS fuzz_$$t"; \
	done

fuzz-regress: $(FUZZ_BINS)
	@for p in $(FUZZ_PAIRS); do \
	    t=$${p%%:*}; seeds=tests/fuzz/corpus/$${p#*:}; [ -d $$seeds ] || continue; \
	    args=; [ $$t != http ] || args="$(FUZZ_ARGS_http)"; \
	    $(FUZZ_BUILD)/fuzz_$$t -runs=0 $$args $$seeds 2>$(FUZZ_BUILD)/regress_$$t.log \
	        || { tail -n 60 $(FUZZ_BUILD)/regress_$$t.log; echo "FAIL fuzz-regress $$t"; exit 1; }; \
	    echo "PASS fuzz-regress $$t"; \
	done

-include $(FUZZ_OBJ:.o=.d) $(FUZZ_HTTP_OBJ:.o=.d)
