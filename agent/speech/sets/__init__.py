"""Command-set formats: flat sets, grammar sets and Rhino contexts, and the built-in sets (``*.yaml`` here)."""
