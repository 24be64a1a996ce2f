"""Trajectory stores, window indexing and Grain sources."""
