"""Backends: code and model writers for each target family."""
