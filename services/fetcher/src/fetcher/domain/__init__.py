"""The fetcher's pure core: parsing and deciding, no I/O, no logging."""
