# mk/image.mk — `make image APP=NAME`: an OCI image of one program with podman (scripts/image.sh).
#
#   make image APP=ensemble                  tiffin/ensemble:latest
#   make image APP=digits IMAGE_TAG=my/digits:1
#
# Installs podman, buildah, runc and debootstrap first if missing (scripts/install-deps.sh image);
# the Debian base image is made once and cached in podman's storage. IMAGE_DATA_NAME lists the
# folders under $(BUILD) that program's services read at run time, copied to /app/ in the image;
# IMAGE_NEEDS_NAME the make targets that produce them.

IMAGE_TAG ?= tiffin/$(APP):latest
IMAGE_DATA_digits := digits/models
IMAGE_NEEDS_digits := digits-models

.PHONY: image image-deps

image-deps:
	scripts/install-deps.sh build image

image: image-deps
	@[ -n "$(APP)" ] || { echo "make image: say which program, APP=NAME (examples/NAME)" >&2; exit 2; }
	$(MAKE) $(BUILD)/examples/$(APP) $(IMAGE_NEEDS_$(APP))
	scripts/image.sh $(BUILD) $(APP) $(IMAGE_TAG) $(IMAGE_DATA_$(APP))
