"""Data files of the matcher: the maintained role-address list."""
