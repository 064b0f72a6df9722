"""Models, recipes and data for bit-exact training with bitsim."""
