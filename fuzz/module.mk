# fuzz_nbd needs the NBD codec of runtime-real (pure, like the core).
$(BUILD)/fuzz_nbd: fuzz/fuzz_nbd.c runtime-real/nbd_proto.c runtime-real/nbd_proto.h \
		$(wildcard core/*.h)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) $< runtime-real/nbd_proto.c -o $@
