# Background tasks (issue 17): the task store is SQLite (Debian's libsqlite3-dev).
LDLIBS += -lsqlite3
