"""Tests of gen3d.evaluation.metrics."""
