"""The timeline's rules as pure functions over plain data: no I/O, no logging."""
