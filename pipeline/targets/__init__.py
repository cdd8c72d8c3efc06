"""The thin operators that move data, one module per target, with the same task ids."""
