"""The records' one writer: commands in, people and companies stored and announced."""
