"""The valora command line."""
