"""The game master's table: dice notation and checks, rolled by code (issue 16 part 1)."""
