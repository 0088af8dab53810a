# ichi's build. `make` builds bin/init and bin/tools/ (a symlink per tool);
# `make test` runs every test, `make run` boots the demo appliance under QEMU,
# `make bench` measures ichi against the reference programs.
GO      ?= go
PREFIX  ?= /usr/local
GOFLAGS_BUILD := -trimpath -ldflags='-s -w -buildid='
ICHI_BIN := $(CURDIR)/bin/init
export ICHI_BIN

.PHONY: all bin/init tools deps test test-unit test-qemu run bench lint install clean

all: tools

bin/init:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o bin/init ./cmd/init

tools: bin/init
	rm -rf bin/tools && mkdir -p bin/tools
	for t in $$(bin/init --list-tools); do ln -s ../init bin/tools/$$t; done

deps:
	sh scripts/deps.sh

test: deps all
	bash scripts/test.sh

run: deps all
	$(GO) run ./cmd/ichi-vm demo

bench: deps all
	$(GO) run ./bench

lint: deps
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 bin/init $(DESTDIR)$(PREFIX)/bin/ichi
	for t in $$(bin/init --list-tools); do ln -sf ichi $(DESTDIR)$(PREFIX)/bin/$$t; done

clean:
	rm -rf bin .cache/images
