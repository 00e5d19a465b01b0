# Background tasks (issue 17): the task store is SQLite (Debian's libsqlite3-dev).
LDLIBS += -lsqlite3

# The two task stores compared (docs/benchmarks.md, "Background tasks").
BENCHES += $(BUILD)/bench/tasks
.PHONY: bench-tasks
bench-tasks: $(BUILD)/bench/tasks
	$(BUILD)/bench/tasks
