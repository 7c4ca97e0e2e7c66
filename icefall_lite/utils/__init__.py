"""Small utilities shared by the library and the recipes."""
