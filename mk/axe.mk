# The accessibility checker the consent banner's browser tests run: axe-core, from the npm registry,
# kept out of the repository in .cache/. `make test` fetches it when it is missing.
AXE_VERSION ?= 4
AXE := .cache/axe/axe.min.js

.PHONY: axe

$(AXE):
	mkdir -p $(@D)
	cd $(@D) && tarball=$$(npm pack --silent axe-core@$(AXE_VERSION)) \
		&& tar -xzf "$$tarball" package/axe.min.js && mv package/axe.min.js . && rm -rf package "$$tarball"

axe: $(AXE)

test: $(AXE)
